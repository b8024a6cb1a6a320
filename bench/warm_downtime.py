"""Cutover downtime, warm against cold, for the same system on the lab.

Needs root (it brings up ``govmig lab`` with one target host and one source
host in a temporary directory, and takes it down at the end, even on failure).
One system is seeded, and for each size given to ``--mb`` (several sizes make
one row each: a cold downtime grows with the data, a warm one should not) its
data is replaced by ``--files`` files of random bytes totalling that many MB on
the source host, and hashed there into the data's digest cache. Then,
``--rounds`` times each (one count for every size, or one per size),
alternating, through the real ``PhaseRunner`` and the ``ssh`` role:

(a) cold: preflight, provision, then the cutover straight away. With no replica
    on the target, the cutover's final rsync is the full copy: the downtime is
    quiesce, full copy, start, switch.
(b) warm: preflight, provision, a full replicate, a delta replicate, then 1% of
    the files rewritten with new random bytes on the source, then the cutover:
    the downtime is quiesce, a final pass of that 1%, start, switch.

Each downtime is the ``downtime_ms`` the cutover reported (from the source
stopping to the first healthy answer by name); each round ends with a rollback,
which brings the source back under its name and removes the target's copy.
For each size it prints each round, the medians, the ratio warm/cold (target:
<= 1/20, and warm under 3 s), and where each median downtime went: the final
rsync as the role timed it, and the time from each task's start to the next
one's inside the window, from the run's job events; at the end, one row per
size. The hosts' disks (size-limited tmpfs, so memory) are sized for the
largest: its data on the source and its copy on the target.

Run as root: ``python -m bench.warm_downtime [--mb 512 [2048 ...]] [--files 2000]
[--rounds 3 [3 ...]]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.replication import MB, NODE, Rig, rig
from orchestrator.execution import RunResult
from orchestrator.execution.reports import downtime_seconds, replication_pass
from orchestrator.execution.runner import kept_events
from orchestrator.inventory import load_inventory
from orchestrator.lab import Lab, LabOptions, LabPaths
from orchestrator.lab.layout import read_state
from orchestrator.migrations import Phase

# The cutover's window, as cutover.yml measures it: from this task's start to the report's.
WINDOW_START = "Note when the source stops serving (the downtime starts)"
WINDOW_END = "Report the final pass and the downtime"
CHANGED_SHARE = 0.01


@dataclass(frozen=True)
class Downtime:
    """One cutover: its downtime, its final rsync, and the window's tasks by name."""

    kind: str
    seconds: float
    rsync_s: float
    literal_mb: float
    tasks: dict[str, float]


def data_dir(each: Rig) -> Path:
    """The system's data on the source host's private disk, seen from here."""
    state = read_state(each.lab.paths)
    assert state is not None, "the lab is up"
    pid = state.pids[each.target.source.host]
    return Path(f"/proc/{pid}/root/srv/govmig/{each.target.system_id}/data")


def fill(each: Rig, mb: int, files: int) -> list[Path]:
    """Replace the source's data with ``files`` files of random bytes, ``mb`` MB in all
    (written two at a time: the kernel's random bytes come at a few hundred MB/s a core)."""
    data = data_dir(each)
    for old in data.iterdir():
        old.unlink()
    size = mb * MB // files
    paths = [data / f"file-{index:05d}.bin" for index in range(files)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda path: path.write_bytes(os.urandom(size)), paths))
    return paths


def index(each: Rig) -> None:
    """Hash the source's new data into its digest cache (``service.py``'s own function, on the
    source host), as the running service would over time: its first health answer after
    the data was replaced would hash it all, longer at several GB than preflight waits."""
    home = f"/srv/govmig/{each.target.system_id}"
    code = "import sys; sys.path.insert(0, sys.argv[1]); import service, pathlib; "
    code += "service.data_checksum(pathlib.Path(sys.argv[1], 'data'))"
    each.on(each.target.source.host, "/usr/bin/python3", "-c", code, home)


def change(paths: list[Path], round_no: int) -> None:
    """Rewrite 1% of the files (a different 1% each round) with new random bytes."""
    count = max(1, round(len(paths) * CHANGED_SHARE))
    start = (round_no * count) % len(paths)
    for path in (paths * 2)[start : start + count]:
        path.write_bytes(os.urandom(path.stat().st_size))


def window(result: RunResult) -> dict[str, float]:
    """Seconds from each task's start to the next one's, inside the downtime window."""
    starts: list[tuple[datetime, str]] = []
    for event in kept_events(result.artifact_dir):
        if event.get("event") == "playbook_on_task_start":
            task = str(event["event_data"].get("task", "?"))
            starts.append((datetime.fromisoformat(event["created"]), task))
    spent: dict[str, float] = defaultdict(float)
    inside = False
    for (at, task), (after, _) in itertools.pairwise(starts):
        inside = inside or task == WINDOW_START
        if task == WINDOW_END:
            break
        if inside:
            spent[task] += (after - at).total_seconds()
    return dict(spent)


def cutover(each: Rig, kind: str) -> Downtime:
    """The cutover, its downtime as reported, then a rollback to the source."""
    result = each.run(Phase.CUTOVER)
    report = result.outcome(each.target.system_id).report
    seconds = downtime_seconds(Phase.CUTOVER, report)
    final = replication_pass(Phase.CUTOVER, report)
    assert seconds is not None, report
    assert final is not None, report
    literal = int(str(report.get("literal_bytes", 0))) / MB
    found = Downtime(kind, seconds, final.seconds or 0.0, literal, window(result))
    each.run(Phase.ROLLBACK)  # the source serves again; the target's copy is removed
    return found


def cold(each: Rig) -> Downtime:
    each.run(Phase.PREFLIGHT)
    each.run(Phase.PROVISION)
    return cutover(each, "cold")


def warm(each: Rig, paths: list[Path], round_no: int) -> Downtime:
    each.run(Phase.PREFLIGHT)
    each.run(Phase.PROVISION)
    each.run(Phase.REPLICATE)  # full
    each.run(Phase.REPLICATE)  # delta
    change(paths, round_no)
    return cutover(each, "warm")


@dataclass(frozen=True)
class Row:
    """One size's medians."""

    mb: int
    rounds: int
    cold_s: float
    warm_s: float

    @property
    def ratio(self) -> float:
        return self.warm_s / self.cold_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, nargs="+", default=[512], help="MB of data; sizes")
    parser.add_argument("--files", type=int, default=2000, help="files the data is split into")
    parser.add_argument(
        "--rounds", type=int, nargs="+", default=[3], help="cutovers of each kind; or one per size"
    )
    args = parser.parse_args()
    sizes: list[int] = args.mb
    counts: list[int] = args.rounds * len(sizes) if len(args.rounds) == 1 else args.rounds
    if len(counts) != len(sizes) or min(counts) < 1:
        parser.error("--rounds takes one count, or one per size given to --mb")
    with tempfile.TemporaryDirectory(prefix="govmig-warm-downtime-") as tmp:
        base = Path(tmp)
        lab = Lab(LabPaths.under(base / "lab"), load_inventory())
        try:
            disk_mb = 2 * max(sizes) + 256  # the source's data and the target's copy
            lab.up(LabOptions(nodes=(NODE,), per_node=1, sources=1, disk_mb=disk_mb))
            each = rig(lab, base, 1)  # seeded, preflighted and provisioned
            each.run(Phase.ROLLBACK)  # back to a bare target before the data changes
            rows = [
                measure(each, mb, args.files, count)
                for mb, count in zip(sizes, counts, strict=True)
            ]
            table(rows, args.files)
        finally:
            lab.down()


def measure(each: Rig, mb: int, files: int, count: int) -> Row:
    """``count`` rounds of each kind at ``mb`` MB, printed as they go; the size's row."""
    print(f"\n== {mb} MB in {files} files ==", flush=True)
    paths = fill(each, mb, files)
    index(each)
    rounds: list[Downtime] = []
    for round_no in range(count):  # alternating, so drift hits both alike
        rounds.append(cold(each))
        rounds.append(warm(each, paths, round_no))
        for done in rounds[-2:]:
            print(
                f"round {round_no + 1} {done.kind}: downtime {done.seconds:.2f} s, "
                f"final rsync {done.rsync_s:.2f} s ({done.literal_mb:.1f} MB literal)",
                flush=True,
            )
    report(mb, files, rounds)
    median = statistics.median
    return Row(
        mb,
        count,
        median(r.seconds for r in rounds if r.kind == "cold"),
        median(r.seconds for r in rounds if r.kind == "warm"),
    )


def table(rows: list[Row], files: int) -> None:
    """One row per size: the medians, the ratio, and the two targets."""
    print(f"\nby size ({files} files, {CHANGED_SHARE:.0%} of them changed before warm; medians):")
    print(f"{'data MB':>8} {'rounds':>6} {'cold s':>7} {'warm s':>7} {'warm/cold':>9} "
          f"{'<= 1/20':>7} {'warm < 3 s':>10}")  # fmt: skip
    for row in rows:
        print(
            f"{row.mb:>8} {row.rounds:>6} {row.cold_s:>7.2f} {row.warm_s:>7.2f} "
            f"{row.ratio:>9.3f} {'met' if row.ratio <= 1 / 20 else 'MISSED':>7} "
            f"{'met' if row.warm_s < 3 else 'MISSED':>10}",
            flush=True,
        )


def report(mb: int, files: int, rounds: list[Downtime]) -> None:
    """Medians of each kind, the ratio, and where each median downtime went."""
    median = statistics.median
    by_kind = {k: [r for r in rounds if r.kind == k] for k in ("cold", "warm")}
    cold_s = median(r.seconds for r in by_kind["cold"])
    warm_s = median(r.seconds for r in by_kind["warm"])
    print(f"\n{'cutover (median of ' + str(len(by_kind['cold'])) + ')':<26} {'downtime s':>10} "
          f"{'final rsync s':>13} {'literal MB':>10}")  # fmt: skip
    for kind, found in by_kind.items():
        rsync = median(r.rsync_s for r in found)
        literal = median(r.literal_mb for r in found)
        print(
            f"{kind:<26} {median(r.seconds for r in found):>10.2f} {rsync:>13.2f} {literal:>10.1f}"
        )
    ratio = warm_s / cold_s
    verdict = "met" if ratio <= 1 / 20 and warm_s < 3 else "MISSED"
    print(f"warm/cold: {ratio:.3f} (1/{1 / ratio:.1f}); target <= 1/20 and warm < 3 s: {verdict}")
    print(f"data: {mb} MB in {files} files, {CHANGED_SHARE:.0%} of the files changed before warm")
    for kind, found in by_kind.items():
        middle = sorted(found, key=lambda r: r.seconds)[len(found) // 2]
        print(
            f"\nwhere the {kind} downtime went ({middle.seconds:.2f} s, task start to next start):"
        )
        for task, seconds in sorted(middle.tasks.items(), key=lambda kv: -kv[1]):
            print(f"  {seconds:>6.2f}  {task}")


if __name__ == "__main__":
    main()
