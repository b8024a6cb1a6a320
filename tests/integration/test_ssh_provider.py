"""Real migrations between real lab hosts: the ``ssh`` provider through the real ``PhaseRunner``.

One lab for the module (3 nodes with 1 target each, 2 sources, real sshd and
BIND). Six seeded systems on three nodes go through every phase, and the tests
check what a client sees: the name's A and AAAA records, the service by name
over both families with the source's checksum, the quiesced source, a small
delta on a second replicate, and one node's link limit holding its passes under
it. Then failures, each followed by a rollback that
must leave the source serving under its name: a source host whose sshd does
not answer, a target disk too full for the data, a wrong TSIG key, a target
service failing its health check. Then the way back and its end, beside each
other on the three nodes: a rehearsal of a replicated system (and one made to
fail), a revert of a migrated system after a write through its name, and a
finalize (one system kept for the retention, one with a retention of 0),
each run twice. Needs root and the lab's packages: without them ``lab up``
fails, and so do these tests.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import threading
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import FaultPlan, NodeTarget, RunResult, SystemTarget
from orchestrator.execution.reports import downtime_seconds, replication_pass
from orchestrator.execution.runner import PhaseRunner, kept_events
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import SourceLocation
from orchestrator.lab import Lab, LabOptions, LabPaths, seed
from orchestrator.lab.layout import host_home, read_state
from orchestrator.lab.topology import BRIDGE_IPV4, ZONE
from orchestrator.migrations.replication import PassKind
from orchestrator.migrations.states import FORWARD_PHASES, Phase
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import SshHosts, load_ssh_hosts
from tests.fixtures.targets import system_target

pytestmark = [pytest.mark.lab, pytest.mark.ansible]

INVENTORY = load_inventory()
NODES = {
    n: NodeTarget(node_id=n, ipv6_prefix=str(INVENTORY.nodes[n].ipv6_prefix))
    for n in ("shantou", "heyuan", "meizhou")
}
GOOD = {
    "shantou": ("st-permits", "st-tax"),
    "heyuan": ("hy-clinics", "hy-water"),
    "meizhou": ("mz-land", "mz-transit"),
}
BAD_HEALTH, BAD_DISK, BAD_TSIG, BAD_SSH = "hy-badhealth", "mz-fulldisk", "mz-badkey", "st-nossh"
# The way back: rehearsed while ready (replicated, never cut over); reverted after
# its cutover; finalized (migrated systems of GOOD: one kept, one with retention 0).
REHEARSED, REVERTED = "st-rehearse", "hy-revert"
KEPT, GONE = GOOD["meizhou"]
WRITTEN = "after-cutover.txt"
DATA_BYTES = 256 * 1024
BIG_BYTES = 2 * 1024 * 1024
# One node's link is limited (the hosts inventory's replication_limit_mbps): its four
# systems' full passes of DATA_BYTES, in one run, share it and take 2 s or more each.
LIMITED, LIMIT_MBPS = "heyuan", 4


@dataclass
class Migration:
    """The lab, the runner, and everything the runs returned."""

    lab: Lab
    provider: SshProvider
    runner: PhaseRunner
    faults: FaultPlan
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    results: list[RunResult] = field(default_factory=list)
    first: dict[tuple[str, Phase], RunResult] = field(default_factory=dict)
    again: dict[str, RunResult] = field(default_factory=dict)
    failed: dict[str, RunResult] = field(default_factory=dict)
    rolled: dict[str, RunResult] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    # Host vars of the runs beyond the provider's, by system (the retention of a finalize).
    extra_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The way back: its runs by name, what a client saw during the rehearsal, and
    # the checksum the target served after a write through the name.
    warm: dict[str, RunResult] = field(default_factory=dict)
    seen_in_rehearsal: list[dict[str, Any]] = field(default_factory=list)
    written_checksum: str = ""
    rehearsal_leftovers: dict[str, list[str]] = field(default_factory=dict)

    def targets(
        self, node: str, ids: Sequence[str], lease_generation: int = 0
    ) -> list[SystemTarget]:
        index = {sid: i + 1 for i, sid in enumerate(sorted(self.sources))}
        return [
            system_target(
                sid,
                index[sid],
                source=SourceLocation(
                    city=node, site="lab", host=self.sources[sid]["source"]["host"]
                ),
                lease_generation=lease_generation,
            )
            for sid in ids
        ]

    def run(self, phase: Phase, node: str, ids: Sequence[str], **kwargs: Any) -> RunResult:
        secrets = kwargs.pop("secrets", None) or self.provider.secrets()
        targets = self.targets(node, ids, kwargs.pop("lease_generation", 0))
        result = self.runner.run(phase, [(NODES[node], targets)], secrets=secrets)
        self.results.append(result)
        return result


class _Capture(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record))


def host_pid(lab: Lab, host: str) -> int:
    state = read_state(lab.paths)
    assert state is not None
    return state.pids[host]


def run_round(done: Migration, phase: Phase, batches: dict[str, list[str]]) -> None:
    """``phase`` for every node's batch at once, as the worker runs nodes side by side."""
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        runs = {n: pool.submit(done.run, phase, n, ids) for n, ids in batches.items() if ids}
        for node, future in runs.items():
            done.first[(node, phase)] = future.result()


def migrate(done: Migration) -> None:
    """Every phase for the good systems, with three of the failures on the way."""
    batches = {node: [*ids] for node, ids in GOOD.items()}
    batches["shantou"].append(REHEARSED)
    batches["heyuan"] += [BAD_HEALTH, REVERTED]
    batches["meizhou"] += [BAD_TSIG, BAD_DISK]
    done.faults.inject(BAD_HEALTH, Phase.CUTOVER)
    run_round(done, Phase.PREFLIGHT, batches)
    run_round(done, Phase.PROVISION, batches)
    batches["meizhou"].remove(BAD_DISK)
    run_round(done, Phase.REPLICATE, batches)
    batches["shantou"].remove(REHEARSED)  # ready, and rehearsed later: never cut over
    done.failed[BAD_DISK] = replicate_onto_a_full_disk(done)
    batches["meizhou"].remove(BAD_TSIG)
    wrong = {**done.provider.secrets(), "govmig_secret_tsig_key": "d3Jvbmcgc2VjcmV0"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        # A wrong TSIG key is a run's secret: its own batch, beside the others.
        bad_key = pool.submit(done.run, Phase.CUTOVER, "meizhou", [BAD_TSIG], secrets=wrong)
        run_round(done, Phase.CUTOVER, batches)
        done.failed[BAD_TSIG] = bad_key.result()
    done.failed[BAD_HEALTH] = done.first[("heyuan", Phase.CUTOVER)]
    batches["heyuan"].remove(BAD_HEALTH)
    run_round(done, Phase.VERIFY, batches)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = {n: pool.submit(done.run, Phase.REPLICATE, n, ids) for n, ids in GOOD.items()}
        done.again = {node: future.result() for node, future in runs.items()}


def replicate_onto_a_full_disk(done: Migration) -> RunResult:
    """Replicate ``BAD_DISK`` while its target's disk has room for half its data."""
    target = done.provider.target(done.targets("meizhou", [BAD_DISK])[0], NODES["meizhou"])
    filler = done.lab.host_root(target.name) / "srv/govmig/filler"
    free = os.statvfs(filler.parent)
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - BIG_BYTES // 2))
    try:
        return done.run(Phase.REPLICATE, "meizhou", [BAD_DISK])
    finally:
        filler.unlink()


def roll_back(done: Migration) -> None:
    """A rollback after each failure; the one with its source's sshd stopped comes last."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        heyuan = pool.submit(done.run, Phase.ROLLBACK, "heyuan", [BAD_HEALTH])
        done.rolled[BAD_DISK] = done.rolled[BAD_TSIG] = done.run(
            Phase.ROLLBACK, "meizhou", [BAD_DISK, BAD_TSIG]
        )
        done.rolled[BAD_HEALTH] = heyuan.result()
    sshd = host_pid(done.lab, done.sources[BAD_SSH]["source"]["host"])
    os.kill(sshd, signal.SIGSTOP)  # the host is up, its sshd does not answer
    # ...and its node is full by the ledger's account: a second concern, named with the first.
    done.extra_vars[BAD_SSH] = {"govmig_free_vcpu": 0}
    try:
        done.failed[BAD_SSH] = done.run(Phase.PREFLIGHT, "shantou", [BAD_SSH])
        done.rolled[BAD_SSH] = done.run(Phase.ROLLBACK, "shantou", [BAD_SSH])
    finally:
        os.kill(sshd, signal.SIGCONT)
        del done.extra_vars[BAD_SSH]


def put_by_name(sid: str, name: str, content: bytes) -> None:
    """Write one data file through the service, reached by its name as a client would."""
    (address,) = resolve(sid, "AAAA")
    request = urllib.request.Request(
        f"http://[{address}]:8080/data/{name}", data=content, method="PUT"
    )
    request.add_header("Host", f"{sid}.{ZONE}:8080")
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 204


def watch_rehearsal(sid: str, stop: threading.Event) -> list[dict[str, Any]]:
    """What a client sees by the test name while a rehearsal runs, with the real name then."""
    seen: list[dict[str, Any]] = []
    while not stop.wait(0.02):
        try:
            addresses = resolve(f"{sid}.rehearsal", "AAAA")
            if addresses:
                health = get_health(addresses[0], f"{sid}.rehearsal")
                seen.append({**health, "real": resolve(sid, "AAAA")})
        except OSError:
            continue  # not up yet, or torn down already
    return seen


def run_side_by_side(done: Migration, runs: Mapping[str, tuple[Phase, str, list[str]]]) -> None:
    """Runs on different nodes at once, as the worker runs them; kept in ``done.warm``."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {key: pool.submit(done.run, *run) for key, run in runs.items()}
        done.warm.update({key: future.result() for key, future in futures.items()})


def go_back(done: Migration) -> None:
    """A rehearsal, a revert after a write and two finalizes side by side; then each again."""
    put_by_name(REVERTED, WRITTEN, b"written through the name on the target\n" * 512)
    (address,) = resolve(REVERTED, "AAAA")
    done.written_checksum = str(get_health(address, REVERTED)["checksum"])
    done.extra_vars[GONE] = {"govmig_source_retention_days": 0}
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        watcher = pool.submit(watch_rehearsal, REHEARSED, stop)
        try:
            run_side_by_side(
                done,
                {
                    "rehearse": (Phase.REHEARSE, "shantou", [REHEARSED]),
                    "revert": (Phase.REVERT, "heyuan", [REVERTED]),
                    "finalize": (Phase.FINALIZE, "meizhou", [KEPT, GONE]),
                },
            )
        finally:
            stop.set()
            done.seen_in_rehearsal = watcher.result()
    done.rehearsal_leftovers["rehearse"] = rehearsal_leftovers(done)
    done.faults.inject(REHEARSED, Phase.REHEARSE)
    run_side_by_side(
        done,
        {
            "rehearse-fault": (Phase.REHEARSE, "shantou", [REHEARSED]),
            "revert-again": (Phase.REVERT, "heyuan", [REVERTED]),
            "finalize-again": (Phase.FINALIZE, "meizhou", [KEPT, GONE]),
        },
    )
    done.rehearsal_leftovers["rehearse-fault"] = rehearsal_leftovers(done)


def home_on(done: Migration, host: str, sid: str) -> Path:
    """A system's directory on a lab host's private disk, seen from here."""
    return done.lab.host_root(host) / host_home(sid).lstrip("/")


def target_of(done: Migration, node: str, sid: str) -> str:
    return done.provider.target(done.targets(node, [sid])[0], NODES[node]).name


def rehearsal_leftovers(done: Migration) -> list[str]:
    """What a rehearsal of ``REHEARSED`` left: its test name, scratch home or test service."""
    test_name = f"{REHEARSED}.rehearsal"
    left = [f"{rdtype} record" for rdtype in ("A", "AAAA") if resolve(test_name, rdtype)]
    scratch = home_on(done, target_of(done, "shantou", REHEARSED), REHEARSED) / "rehearsal"
    if scratch.exists():
        left.append(f"scratch home {sorted(p.name for p in scratch.iterdir())}")
    marker = f"{host_home(REHEARSED)}/rehearsal/service.py".encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes():
                left.append(f"test service {cmdline.parent.name}")
        except OSError:
            continue  # gone meanwhile
    return left


def with_limit(hosts: SshHosts) -> SshHosts:
    """The lab's hosts inventory with ``LIMITED``'s link limited to ``LIMIT_MBPS``."""
    pool = hosts.nodes[LIMITED].model_copy(update={"replication_limit_mbps": LIMIT_MBPS})
    return hosts.model_copy(update={"nodes": {**hosts.nodes, LIMITED: pool}})


@pytest.fixture(scope="module")
def migration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migration]:
    base = tmp_path_factory.mktemp("ssh")
    lab = Lab(LabPaths.under(base / "lab"), INVENTORY)
    lab.up(LabOptions(nodes=tuple(NODES), per_node=1, sources=2, disk_mb=8))
    logs: list[str] = []
    handler = _Capture(logs)
    logging.getLogger().addHandler(handler)
    logging.getLogger("orchestrator").setLevel(logging.DEBUG)
    try:
        everyone = [sid for ids in GOOD.values() for sid in ids] + [REHEARSED, REVERTED]
        seeded = seed(lab, [*everyone, BAD_HEALTH, BAD_TSIG, BAD_SSH], size=DATA_BYTES)
        seeded += seed(lab, [BAD_DISK], size=BIG_BYTES)
        faults = FaultPlan()
        provider = SshProvider(hosts=with_limit(load_ssh_hosts(lab.paths.inventory)))
        extra_vars: dict[str, dict[str, Any]] = {}
        done = Migration(
            lab=lab,
            provider=provider,
            runner=PhaseRunner(
                playbook_dir=PLAYBOOK_DIR,
                artifacts_dir=base / "artifacts",
                provider=provider,
                host_vars_hooks=[faults.host_vars, lambda _, s: extra_vars.get(s.system_id, {})],
                keep_artifacts=200,
                max_down=1,  # one system of a batch in its downtime at a time
            ),
            faults=faults,
            sources={item["system_id"]: item for item in seeded},
            logs=logs,
            extra_vars=extra_vars,
        )
        done.checksums = {
            sid: str(get_health(item["source"]["ipv4"])["checksum"])
            for sid, item in done.sources.items()
        }
        migrate(done)
        roll_back(done)
        go_back(done)
        yield done
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("orchestrator").setLevel(logging.NOTSET)
        lab.down()


def resolve(name: str, rdtype: str) -> list[str]:
    query = dns.message.make_query(f"{name}.{ZONE}", rdtype)
    response = dns.query.tcp(query, "10.213.0.53", timeout=3)
    return sorted(item.to_text() for rrset in response.answer for item in rrset)


def get_health(address: str, name: str | None = None) -> dict[str, Any]:
    host = f"[{address}]" if ":" in address else address
    request = urllib.request.Request(f"http://{host}:8080/health")
    if name:
        request.add_header("Host", f"{name}.{ZONE}:8080")
    with urllib.request.urlopen(request, timeout=5) as reply:
        answer: dict[str, Any] = json.load(reply)
    return answer


def report(result: RunResult, system_id: str) -> dict[str, Any]:
    """What the role reported for one system, as the phase worker receives it."""
    found = dict(result.outcome(system_id).report)
    assert found, f"no govmig_report for {system_id} (artifacts {result.artifact_dir})"
    return found


def assert_source_serves(done: Migration, sid: str, checksum: str | None = None) -> None:
    source = done.sources[sid]["source"]
    assert resolve(sid, "A") == [source["ipv4"]]
    assert resolve(sid, "AAAA") == [source["ipv6"]]
    health = get_health(source["ipv4"], sid)
    assert (health["system"], health["location"]) == (sid, source["host"])
    assert health["checksum"] == (checksum or done.checksums[sid])


@pytest.mark.parametrize("phase", FORWARD_PHASES, ids=str)
def test_every_phase_succeeds_for_every_good_system(migration: Migration, phase: Phase) -> None:
    for node, ids in GOOD.items():
        result = migration.first[(node, phase)]
        outcomes = {o.system_id: o for o in result.outcomes}
        assert all(outcomes[sid].ok for sid in ids), result.outcomes


def test_each_name_answers_the_systems_own_addresses_on_its_target(migration: Migration) -> None:
    for node, ids in GOOD.items():
        for target in migration.targets(node, ids):
            wanted = migration.provider.host_vars(target, NODES[node])
            assert resolve(target.system_id, "A") == [wanted["govmig_system_ipv4"]]
            assert resolve(target.system_id, "AAAA") == [wanted["govmig_system_ipv6"]]
            assert str(wanted["govmig_system_ipv6"]).startswith(NODES[node].ipv6_prefix[:-3])
            provisioned = report(migration.first[(node, Phase.PROVISION)], target.system_id)
            assert provisioned == {
                "target_host": wanted["govmig_target_host"],
                "system_ipv4": wanted["govmig_system_ipv4"],
                "system_ipv6": wanted["govmig_system_ipv6"],
                # No execution host: the playbook ran here, reaching the lab from its bridge.
                "controlled_from": str(BRIDGE_IPV4),
            }


def test_the_service_answers_by_name_over_both_families_with_the_source_data(
    migration: Migration,
) -> None:
    for node, ids in GOOD.items():
        for sid in ids:
            for rdtype in ("AAAA", "A"):
                (address,) = resolve(sid, rdtype)
                health = get_health(address, sid)
                assert health["system"] == sid
                assert health["location"] == f"{node}-1"
                assert health["checksum"] == migration.checksums[sid]
            verified = report(migration.first[(node, Phase.VERIFY)], sid)
            assert verified == {"ipv6_by_name": True, "ipv4_by_name": True}


def test_the_sources_are_stopped(migration: Migration) -> None:
    for ids in GOOD.values():
        for sid in ids:
            with pytest.raises(OSError):
                get_health(migration.sources[sid]["source"]["ipv4"])


def test_a_second_replicate_sends_only_a_small_delta(migration: Migration) -> None:
    for node, ids in GOOD.items():
        assert migration.again[node].ok, migration.again[node].outcomes
        for sid in ids:
            first = report(migration.first[(node, Phase.REPLICATE)], sid)
            again = report(migration.again[node], sid)
            assert first["literal_bytes"] >= DATA_BYTES
            assert again["literal_bytes"] == 0
            assert again["bytes_sent"] < DATA_BYTES // 20
            assert (first["replication_pass"], again["replication_pass"]) == ("full", "delta")
            assert isinstance(first["transfer_ms"], int)


def test_a_limited_nodes_replicate_passes_share_its_link_limit(migration: Migration) -> None:
    """Bounded from above only: a busy machine makes a pass slower, never faster. Unlimited,
    the same pass (its SSH login included) sent 7 to 12 Mbit/s here; that is not asserted."""
    run = migration.first[(LIMITED, Phase.REPLICATE)]
    passes = [report(run, outcome.system_id) for outcome in run.outcomes]
    assert len(passes) == 4
    assert all(copied["bytes_sent"] >= DATA_BYTES for copied in passes)
    mbit_s = [copied["bytes_sent"] * 8 / (copied["transfer_ms"] / 1000) / 1e6 for copied in passes]
    assert sum(mbit_s) <= LIMIT_MBPS * 1.25, passes


def test_the_cutover_reports_its_final_pass_and_the_downtime_it_measured(
    migration: Migration,
) -> None:
    for node, ids in GOOD.items():
        for sid in ids:
            cutover = report(migration.first[(node, Phase.CUTOVER)], sid)
            final = replication_pass(Phase.CUTOVER, cutover)
            downtime = downtime_seconds(Phase.CUTOVER, cutover)
            assert final is not None, cutover
            assert final.kind is PassKind.FINAL
            assert final.bytes_sent > 0, "the file list goes on the wire even with nothing to send"
            # Stopping the source, the final sync, starting and checking the target, the
            # switch and the answer by name: more than nothing, and less than the whole run.
            assert downtime is not None, cutover
            assert 0 < downtime < migration.first[(node, Phase.CUTOVER)].duration_s


def test_a_batchs_systems_are_down_no_more_at_once_than_max_down_allows(
    migration: Migration,
) -> None:
    """The runs' max_down is 1: in each cutover batch, one system's downtime (its source
    stopped, until it answers by name from the target, or fails) ends before the next's
    starts. heyuan's batch of four has one that fails in its window (BAD_HEALTH)."""
    assert migration.runner.max_down == 1
    batches = {**GOOD, "heyuan": (*GOOD["heyuan"], BAD_HEALTH, REVERTED)}
    for node, ids in batches.items():
        windows = downtime_windows(migration.first[(node, Phase.CUTOVER)].artifact_dir)
        assert set(windows) == set(ids)
        ordered = sorted(windows.values())
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(ordered)), windows


def downtime_windows(artifact_dir: Path) -> dict[str, tuple[datetime, datetime]]:
    """Each system's downtime in a run, from its events: from the task that notes the source
    stopped to the report of the downtime, or to the task that failed after it."""
    starts: dict[str, datetime] = {}
    windows: dict[str, tuple[datetime, datetime]] = {}
    for event in kept_events(artifact_dir):
        data, at = event.get("event_data", {}), datetime.fromisoformat(event["created"])
        host, task = data.get("host"), data.get("task", "")
        if event["event"] == "runner_on_ok" and task.startswith("Note when the source stops"):
            starts[host] = at
        elif host in starts and (
            event["event"] == "runner_on_failed"
            or (event["event"] == "runner_on_ok" and task.startswith("Report the final pass"))
        ):
            windows[host] = (starts.pop(host), at)
    return windows


@pytest.mark.parametrize(
    ("system", "words"),
    [
        (BAD_SSH, f"source host {'{}'} is not usable over SSH"),
        (BAD_DISK, "replication from {} to meizhou-1 failed (rsync exit"),
        (BAD_TSIG, "refused the update: NOTAUTH"),
        (BAD_HEALTH, "is not healthy with the source's data"),
    ],
    ids=["source-sshd-down", "target-disk-full", "wrong-tsig-key", "target-unhealthy"],
)
def test_a_failure_fails_with_its_reason_and_rollback_restores_the_source(
    migration: Migration, system: str, words: str
) -> None:
    (failed,) = [o for o in migration.failed[system].outcomes if o.system_id == system]
    assert not failed.ok
    expected = words.format(migration.sources[system]["source"]["host"])
    assert expected in str(failed.message), failed
    (rolled,) = [o for o in migration.rolled[system].outcomes if o.system_id == system]
    assert rolled.ok, rolled
    assert_source_serves(migration, system)


def test_a_failed_preflight_names_every_concern_at_once(migration: Migration) -> None:
    failed = migration.failed[BAD_SSH].outcome(BAD_SSH)
    assert failed.failed_task == "Check the source and the target are ready for the move"
    source = migration.sources[BAD_SSH]["source"]["host"]
    message = str(failed.message)
    assert message.startswith(f"source host {source} is not usable over SSH"), message
    assert "; node shantou lacks capacity" in message, message


def test_a_wrong_tsig_key_fails_at_the_first_update(migration: Migration) -> None:
    failed = migration.failed[BAD_TSIG].outcome(BAD_TSIG)
    assert failed.failed_task == "Claim the name's fence for this run's lease"
    assert "the server does not accept our TSIG key" in str(failed.message), failed.message
    events = kept_events(migration.failed[BAD_TSIG].artifact_dir)
    ran = {event.get("event_data", {}).get("task") for event in events}
    assert "Journal the cutover" not in ran  # the switch and the journal never ran


def test_no_secret_is_recorded_anywhere(migration: Migration) -> None:
    secrets = migration.provider.secrets()
    key = secrets["govmig_secret_ssh_private_key"]
    pieces = [key.encode(), secrets["govmig_secret_tsig_key"].encode()]
    pieces += [line.encode() for line in key.splitlines() if len(line) > 20 and "-" not in line]
    artifacts = migration.runner.artifacts_dir
    files = [path for path in artifacts.rglob("*") if path.is_file()]
    assert len(files) > 100
    for path in files:
        content = path.read_bytes()
        assert not any(piece in content for piece in pieces), path
    messages = [str(o.message) for r in migration.results for o in r.outcomes]
    assert any("refused the update" in message for message in messages)
    assert any("running cutover" in line for line in migration.logs)
    for text in [*messages, *migration.logs]:
        assert not any(piece.decode() in text for piece in pieces)


def test_a_system_whose_source_is_unknown_rolls_back_touching_no_source(
    migration: Migration,
) -> None:
    """Its preflight was refused before any playbook ran; its rollback has nothing to undo."""
    stray = system_target(
        "st-stray", 99, source=SourceLocation(city="shantou", site="lab", host="src-9")
    )
    assert migration.provider.precheck(Phase.PREFLIGHT, stray) is not None
    result = migration.runner.run(
        Phase.ROLLBACK, [(NODES["shantou"], [stray])], secrets=migration.provider.secrets()
    )
    migration.results.append(result)
    assert result.ok, result.outcomes


def test_a_rehearsal_serves_the_replica_under_a_test_name_while_the_source_serves(
    migration: Migration,
) -> None:
    result = migration.warm["rehearse"]
    assert result.ok, result.outcomes
    rehearsed = report(result, REHEARSED)
    assert rehearsed["rehearsal_name"] == f"{REHEARSED}.rehearsal.{ZONE}"
    assert 0 < rehearsed["rehearsal_ms"] < result.duration_s * 1000
    # Seen from here while it ran: the test name led to the target's copy of the
    # replica, and at the same moments the service name led to the source.
    seen = migration.seen_in_rehearsal
    assert seen, "the test name never answered while the rehearsal ran"
    target = target_of(migration, "shantou", REHEARSED)
    source_ipv6 = migration.sources[REHEARSED]["source"]["ipv6"]
    for health in seen:
        assert health["system"] == REHEARSED
        assert health["location"] == f"{target} (rehearsal)"
        assert health["checksum"] == migration.checksums[REHEARSED]
        assert health["real"] == [source_ipv6]


def test_a_failed_rehearsal_fails_with_its_reason(migration: Migration) -> None:
    failed = migration.warm["rehearse-fault"].outcome(REHEARSED)
    assert not failed.ok
    assert failed.failed_task == "Check every check of the rehearsal passed"
    assert (
        f"the rehearsal of {REHEARSED} on {target_of(migration, 'shantou', REHEARSED)} failed: "
        "the test service answers by the test name from the target with the replica's data"
    ) in str(failed.message)


@pytest.mark.parametrize("run", ["rehearse", "rehearse-fault"])
def test_a_rehearsal_leaves_nothing_behind_and_the_source_serving(
    migration: Migration, run: str
) -> None:
    assert migration.rehearsal_leftovers[run] == []
    target = target_of(migration, "shantou", REHEARSED)
    assert (home_on(migration, target, REHEARSED) / "data").is_dir()  # the replica stays
    assert_source_serves(migration, REHEARSED)


def test_a_revert_brings_the_targets_writes_back_to_the_source(migration: Migration) -> None:
    result = migration.warm["revert"]
    assert result.ok, result.outcomes
    source = migration.sources[REVERTED]["source"]
    written = home_on(migration, source["host"], REVERTED) / "data" / WRITTEN
    assert written.read_bytes() == b"written through the name on the target\n" * 512
    assert migration.written_checksum != migration.checksums[REVERTED]
    assert_source_serves(migration, REVERTED, migration.written_checksum)
    target = target_of(migration, "heyuan", REVERTED)
    assert not home_on(migration, target, REVERTED).exists()
    reverted = report(result, REVERTED)
    assert reverted["replication_pass"] == "reverse"
    assert reverted["literal_bytes"] >= written.stat().st_size
    assert reverted["bytes_sent"] > reverted["literal_bytes"]
    assert isinstance(reverted["transfer_ms"], int)
    # The target stopped, the pull, the source started, the switch, the answer by name.
    assert 0 < reverted["downtime_ms"] < result.duration_s * 1000


def test_a_second_revert_changes_nothing(migration: Migration) -> None:
    again = migration.warm["revert-again"].outcome(REVERTED)
    assert again.ok, again
    assert dict(again.report) == {}  # no reverse pass: the name led to the source already
    assert_source_serves(migration, REVERTED, migration.written_checksum)


def test_finalize_stops_the_source_and_keeps_its_data_for_the_retention(
    migration: Migration,
) -> None:
    result = migration.warm["finalize"]
    assert result.ok, result.outcomes
    source = migration.sources[KEPT]["source"]
    with pytest.raises(OSError):
        get_health(source["ipv4"])
    home = home_on(migration, source["host"], KEPT)
    mark = json.loads((home / "finalized.json").read_text())
    assert mark["system"] == KEPT
    finalized_at = datetime.strptime(mark["finalized_at"], "%Y-%m-%dT%H:%M:%S%z")
    assert abs(datetime.now(UTC) - finalized_at) < timedelta(minutes=10)
    remove_after = datetime.strptime(mark["remove_after"], "%Y-%m-%dT%H:%M:%S%z")
    assert remove_after - finalized_at == timedelta(days=30)
    assert (home / "data").is_dir()
    kept = report(result, KEPT)
    assert kept == {"source_retained_until": mark["remove_after"], "source_removed": False}
    # Again: the first mark and its remove_after stay.
    again = report(migration.warm["finalize-again"], KEPT)
    assert again == kept
    assert json.loads((home / "finalized.json").read_text()) == mark


def test_finalize_with_no_retention_removes_the_source_data(migration: Migration) -> None:
    source = migration.sources[GONE]["source"]
    assert not home_on(migration, source["host"], GONE).exists()
    gone = report(migration.warm["finalize"], GONE)
    assert gone["source_removed"] is True
    removed_at = datetime.strptime(str(gone["source_retained_until"]), "%Y-%m-%dT%H:%M:%S%z")
    assert abs(datetime.now(UTC) - removed_at) < timedelta(minutes=10)
    again = migration.warm["finalize-again"]
    assert again.ok, again.outcomes
    assert report(again, GONE) == {"source_retained_until": "", "source_removed": True}
    assert not home_on(migration, source["host"], GONE).exists()  # not made again
    # The target still serves it by name.
    (address,) = resolve(GONE, "AAAA")
    assert get_health(address, GONE)["location"] == "meizhou-1"


# Last in the module: it rolls a migrated system back.
def test_a_stale_cutover_cannot_switch_the_name_after_a_newer_rollback(
    migration: Migration,
) -> None:
    """A run of an older lease claim (a dead instance's) finds the name fenced: nothing changes."""
    node, (sid, *_) = next(iter(GOOD.items()))
    rolled = migration.run(Phase.ROLLBACK, node, [sid], lease_generation=7)
    assert rolled.outcome(sid).ok, rolled.outcomes
    assert_source_serves(migration, sid)
    stale = migration.run(Phase.CUTOVER, node, [sid], lease_generation=6).outcome(sid)
    assert not stale.ok
    assert stale.failed_task == "Claim the name's fence for this run's lease"
    assert "stale run: the name's fence holds generation 7, this run 6" in (stale.message or "")
    assert_source_serves(migration, sid)  # never quiesced, the name never switched
