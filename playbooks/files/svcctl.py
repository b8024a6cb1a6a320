"""Start and stop a ``service.py`` in its directory, idempotently.

Sits under the ``local`` provider's playbooks, which call it through
``ansible.builtin.command`` with an ``argv`` list (never a shell), and under
``orchestrator.providers.local_sandbox``, which starts the sources. Stdlib only.

``start`` launches the service in its own session (so it outlives the
playbook run, and a cancelled run's process-group kill does not take it
down), waits until it answers ``/health``, and prints one JSON line:
``{"changed": bool, "port": int, "pid": int}``. ``--bind ADDR`` (repeatable)
and ``--port`` are handed to the service (the ``ssh`` role binds a system's own
addresses on a lab host), and its health is then asked on the first of them.
Starting a service that
already answers changes nothing. Its output also carries ``"healths"``: the
``/health`` answer on each bound address, asked at once (the service hashes its
data for every answer, so asking them one after another would add up). ``stop``
ends it and removes its pid and port files; stopping what is not running
changes nothing.

``quiesce`` is a cutover's critical path on the source host in one command:
it stops the service (as ``stop``), then runs the rsync command given after
``--`` and, while that runs, computes the SHA-256 of the data's ``sha256sum``
manifest (the digest ``service.py`` answers as its checksum; the data stands
still once the service is stopped). It prints ``{"changed": bool, "checksum":
str, "rsync": RSYNC}``. RSYNC is what the pass did, read from rsync's
``--stats``: ``{"rc", "bytes_sent", "bytes_received", "literal_bytes", "pass":
"full"|"delta", "transfer_ms", "error"}`` (a pass is full when it created every
regular file it lists; ``error`` is the line of a failed rsync's complaint worth
showing). A failed rsync exits 1 with that line on stderr. Its checksum reads
``service.py``'s digest
cache (``data.digests.json`` beside ``data/``), so only the files changed since
the cache was last brought up to date are hashed inside the downtime.

With ``--to DIR`` instead of a command after ``--`` (the ``local`` role, whose target
is a directory on this machine) it stops the service and then ``sync``s DIR from it,
printing what ``sync`` prints, with ``"stopped_at"``, the epoch second the service
began to stop.

``sync --from SRC`` is the ``local`` role's replication (it has no rsync): it makes
``--dir``'s ``data/`` hold what SRC's holds, as ``rsync -a --delete`` would, and
proves the copy. It prints ``{"changed", "pass": "full"|"delta", "files",
"bytes_sent", "transfer_ms", "checksum", "corrupt": [names]}``: ``checksum`` is the
source's as copied, and ``corrupt`` names the files that did not change on the
source during the pass yet differ in the copy. With ``--unless-empty``, a source
without files (or without a data directory) changes nothing (``"files": 0``).
``--manifest-file`` (with ``sync`` and ``index``) also writes the source's manifest there.

``transfer`` is any other pass of the ``ssh`` role (a replicate push, a
rollback's pull): it runs the rsync command given after ``--`` and, when that
succeeds, ``index``es this host's data. It prints ``{"changed", "rsync": RSYNC,
"index": ...}``; a failed rsync also exits 1 with its complaint on stderr (the
report still printed, so a role that names the failure itself can read it).

``index`` brings that cache up to date outside the downtime (the roles run it
after each replicate pass, on the target and on the source): it computes the
data's checksum as ``service.py`` does, hashing only the files whose identity
changed, and prints ``{"changed": false, "checksum": str, "files": int, "bytes":
int}``, with ``--manifest`` also ``"manifest"``, the text whose SHA-256 is the
checksum (the local role's cutover writes it as the source's manifest). With
``--all-cores`` it hashes on a thread per core: the ssh role's target, which
serves nothing yet; a source's other cores are its service's.
Errors go to stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PORT_FILE = "service.port"
PID_FILE = "service.pid"
LOG_FILE = "service.log"


def read_int(path: Path) -> int | None:
    """The number in a pid or port file, or None if the file is missing or torn."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_service(pid: int, home: Path) -> bool:
    """Whether ``pid`` is a live (not zombie) ``service.py`` of this directory.

    Checking the command line guards against a recycled pid.
    """
    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and str(home / "service.py").encode() in cmdline


def health(
    home: Path, address: str = "127.0.0.1", timeout: float = 2.0
) -> dict[str, object] | None:
    """The service's ``/health`` answer on ``address``, or None if it does not answer."""
    port = read_int(home / PORT_FILE)
    if port is None:
        return None
    from service import ask

    try:
        return ask(address, port, timeout=timeout)[0]
    except (OSError, ValueError):
        return None


def healths(home: Path, addresses: list[str], timeout: float) -> list[dict[str, object] | None]:
    """``/health`` on each of ``addresses`` at once; None for one that does not answer."""
    return at_once([partial(health, home, address, timeout) for address in addresses])


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Each call's result, every call on a thread of its own at once; the first error raised
    is raised here once all have ended. (Not concurrent.futures, which imports logging: a
    fifth of this helper's start-up, inside a cutover's downtime.)"""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            results[index] = call()
        except BaseException as error:  # raised in the caller's thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def running(
    home: Path, addresses: list[str], timeout: float
) -> tuple[int, list[dict[str, object] | None]] | None:
    """This directory's service's pid and its answers if it is up and answering, else None."""
    pid = read_int(home / PID_FILE)
    if pid is None or not is_service(pid, home):
        return None
    answers = healths(home, addresses, timeout)
    return None if answers[0] is None else (pid, answers)


def accepts(address: str, port: int) -> bool:
    """Whether something listens on ``address``:``port`` (a connect, no request)."""
    import socket  # only start asks: kept out of the start-up of every other command

    try:
        with socket.create_connection((address, port), timeout=1.0):
            return True
    except OSError:
        return False


def service_env() -> dict[str, str]:
    """A small environment: the service must not inherit Ansible's, nor any credential in it.

    Nor the run's ``GOVMIG_RUN_TOKEN``: the guard ends what carries it when the run ends.
    """
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")
    return {name: os.environ[name] for name in keep if name in os.environ}


def launch(home: Path, args: argparse.Namespace) -> tuple[int, list[dict[str, object] | None]]:
    """Start the service detached from us and wait until it answers on every address.

    It waits for the service to listen before asking for its health, and then
    asks every address at once with what is left of the timeout: a health answer
    hashes all the data, which may take longer than a poll's interval.
    """
    for name in (PORT_FILE, PID_FILE):
        (home / name).unlink(missing_ok=True)
    argv = [sys.executable, str(home / "service.py"), "--dir", str(home)]
    argv += ["--system", args.system, "--location", args.location, "--port", str(args.port)]
    for address in args.bind:
        argv += ["--bind", address]
    with (home / LOG_FILE).open("ab") as log:
        child = subprocess.Popen(
            argv,
            cwd=home,
            env=service_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    addresses = _addresses(args)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"service exited with status {child.returncode}; see {LOG_FILE}")
        port = read_int(home / PORT_FILE)
        if read_int(home / PID_FILE) == child.pid and port and accepts(addresses[0], port):
            answers = healths(home, addresses, max(deadline - time.monotonic(), 0.1))
            if all(answer is not None for answer in answers):
                return child.pid, answers
        time.sleep(0.02)
    child.kill()
    raise RuntimeError(f"service did not answer within {args.timeout:g}s")


def _addresses(args: argparse.Namespace) -> list[str]:
    """Where to ask for health: every bound address, else loopback (service.py's default)."""
    return [str(address) for address in args.bind] or ["127.0.0.1"]


def start(home: Path, args: argparse.Namespace) -> dict[str, object]:
    """Make sure the service runs; report whether that took a start, and its answers."""
    found = running(home, _addresses(args), args.timeout)
    changed = found is None
    if found is None:
        if not (home / "service.py").is_file():
            raise RuntimeError(f"no service.py in {home}")
        found = launch(home, args)
    pid, answers = found
    port = read_int(home / PORT_FILE)
    return {"changed": changed, "pid": pid, "port": port, "health": answers[0], "healths": answers}


def stop(home: Path, timeout: float) -> dict[str, object]:
    """Make sure the service is not running; report whether anything was stopped."""
    pid = read_int(home / PID_FILE)
    changed = pid is not None and is_service(pid, home)
    if pid is not None and changed:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while is_service(pid, home) and time.monotonic() < deadline:
            time.sleep(0.02)
        if is_service(pid, home):
            os.kill(pid, signal.SIGKILL)
    for name in (PORT_FILE, PID_FILE):
        (home / name).unlink(missing_ok=True)
    return {"changed": changed, "pid": None, "port": None}


def manifest_checksum(data_dir: Path) -> str:
    """The checksum ``service.py`` answers for ``data_dir``, from ``service.py`` itself (it
    sits beside this helper wherever the helper runs). Read one file at a time: quiesce
    runs this beside rsync, which needs the other core."""
    from service import data_checksum

    return data_checksum(data_dir)


def index(
    home: Path, manifest: bool = False, all_cores: bool = False, manifest_file: Path | None = None
) -> dict[str, object]:
    """Bring the data's digest cache up to date; report the checksum it gives, the files and
    their bytes, and with ``manifest`` the manifest itself (``service.py``'s, the text whose
    SHA-256 is the checksum). ``all_cores``: hash on a thread per core (an idle host)."""
    import service

    data = home / "data"
    if not data.is_dir():
        raise RuntimeError(f"no data directory {data}")
    workers = (os.cpu_count() or 1) if all_cores else 1
    found = service.manifest(data, workers=workers)
    report: dict[str, object] = {
        "changed": False,
        "checksum": found.checksum,
        "files": found.files,
        "bytes": found.bytes,
    }
    if manifest:
        report["manifest"] = found.text
    write_manifest(manifest_file, found.text)
    return report


def write_manifest(path: Path | None, text: str) -> None:
    """Write a data set's manifest (``--manifest-file``), atomically."""
    if path is not None:
        from service import write_atomically

        write_atomically(path, text)


def mirror(source: Path, target: Path) -> tuple[int, int]:
    """Make the directory ``target`` hold what ``source`` holds, as ``rsync -a --delete``
    would: files ``source`` lacks are removed, and a file is copied (with its mode and
    times) when ``target`` lacks it or its size or mtime differs. The files and bytes
    copied."""
    import shutil  # only the local role syncs: kept out of the ssh role's commands' start-up

    from service import data_files

    target.mkdir(parents=True, exist_ok=True)
    wanted = {name: (path, st) for name, path, st in data_files(source)}
    for name, path, _ in data_files(target):
        if name not in wanted:
            path.unlink()
    files = sent = 0
    for name, (path, st) in wanted.items():
        out = target / name
        try:
            have = out.stat()
        except OSError:
            have = None
        if have and (have.st_size, have.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)
        files, sent = files + 1, sent + st.st_size
    return files, sent


def sync(
    home: Path, source: Path, manifest_file: Path | None, fault: bool, unless_empty: bool = False
) -> dict[str, object]:
    """Bring ``home``'s data up to ``source``'s (``mirror``) and prove the copy: every file
    that did not change on the source during the pass must have the source's digest in the
    copy (one that did change is copied by the next pass). Reports the pass (full when
    ``home`` had no data yet), what was copied, the source's checksum as copied, and the
    files the copy got wrong. Both digest caches end up to date. ``fault`` corrupts one
    file after the copy (failure injection). ``unless_empty``: a source without files, or
    without a data directory, changes nothing (a rollback never wipes the source from an
    instance without data)."""
    from service import listing, manifest_of

    data, source_data = home / "data", source / "data"
    if not (source_data.is_dir() or unless_empty):
        raise RuntimeError(f"no data directory {source_data}")
    kind = "delta" if data.is_dir() else "full"
    before = (
        {name: digest for name, digest, _ in listing(source_data)} if source_data.is_dir() else {}
    )
    if unless_empty and not before:
        return {"changed": False, "pass": "none", "files": 0, "bytes_sent": 0, "corrupt": []}
    began = time.monotonic()
    files, sent = mirror(source_data, data)
    transfer_ms = int((time.monotonic() - began) * 1000)
    if fault and before:
        (data / min(before)).write_text("corrupted in transit\n")
    after = listing(source_data)
    copied = {name: digest for name, digest, _ in listing(data)}
    found = manifest_of(after)
    write_manifest(manifest_file, found.text)
    return {
        "changed": files > 0,
        "pass": kind,
        "files": found.files,
        "bytes_sent": sent,
        "transfer_ms": transfer_ms,
        "checksum": found.checksum,
        "corrupt": [
            name
            for name, digest, _ in after
            if before.get(name) == digest and copied.get(name) != digest
        ],
    }


def quiesce(home: Path, args: argparse.Namespace, rsync: list[str]) -> dict[str, object]:
    """Stop the service, then bring the target up to the still data: into a directory on
    this machine (``--to``, through ``sync``), or with the ``rsync`` command given after
    ``--`` while the still data is checksummed."""
    if args.to is not None:
        stopped_at = time.time()
        stopped = stop(home, args.timeout)
        synced = sync(args.to.resolve(), home, args.manifest_file, fault=False)
        return {**synced, "changed": stopped["changed"], "stopped_at": stopped_at}
    if not rsync:
        raise RuntimeError("quiesce needs --to DIR or the rsync command after --")
    stopped = stop(home, args.timeout)
    found, done = at_once([lambda: manifest_checksum(home / "data"), lambda: run_rsync(rsync)])
    if done["rc"] != 0:
        raise RuntimeError(f"rsync exit {done['rc']}: {done['error']}")
    return {"changed": stopped["changed"], "checksum": found, "rsync": done}


def transfer(home: Path, rsync: list[str]) -> dict[str, object]:
    """Run the ``rsync`` command given after ``--`` (a pass of the ``ssh`` role, pushed
    from or pulled to this host), then, when it succeeded, bring this host's digest cache
    up to date outside any downtime. A failed rsync raises ``FailedWithReportError``,
    carrying the report."""
    if not rsync:
        raise RuntimeError("transfer needs the rsync command after --")
    done = run_rsync(rsync)
    report: dict[str, object] = {"changed": done["literal_bytes"] > 0, "rsync": done}
    if done["rc"] != 0:
        raise FailedWithReportError(f"rsync exit {done['rc']}: {done['error']}", report)
    report["index"] = index(home)
    return report


class FailedWithReportError(RuntimeError):
    """An action that failed with a report still worth printing (exit 1, the report on
    stdout, the reason on stderr)."""

    def __init__(self, reason: str, report: dict[str, object]) -> None:
        super().__init__(reason)
        self.report = report


# What rsync --stats prints, by the name the roles report it under.
RSYNC_STATS = {
    "bytes_sent": "Total bytes sent",
    "bytes_received": "Total bytes received",
    "literal_bytes": "Literal data",
}


def stat_number(label: str, text: str) -> int:
    """The number after ``label:`` in ``text`` (rsync may print thousands separators)."""
    found = re.search(rf"{label}: ([0-9,]+)", text)
    return int(found.group(1).replace(",", "")) if found else 0


def run_rsync(argv: list[str]) -> dict[str, Any]:
    """Run rsync (with ``--stats``) and report its exit status, what it moved, whether the
    pass was full (it created every regular file it lists) or a delta, how long it ran
    and, when it failed, the line of its complaint worth showing: a full disk, else its
    last line."""
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    took = time.monotonic() - began
    out, complaint = done.stdout, done.stderr.strip().splitlines()
    files = re.search(r"Number of files: .*", out)
    created = re.search(r"Number of created files: .*", out)
    regular = stat_number("reg", files.group(0) if files else "")
    made = stat_number("reg", created.group(0) if created else "")
    return {
        "rc": done.returncode,
        **{name: stat_number(label, out) for name, label in RSYNC_STATS.items()},
        "pass": "full" if made == regular else "delta",
        "transfer_ms": int(took * 1000),
        "error": next((line for line in complaint if "No space left" in line), "")
        or (complaint[-1] if complaint else ""),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="start or stop a govmig sample service")
    rsync: list[str] = []
    if "--" in argv:
        rsync = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    parser.add_argument("action", choices=["start", "stop", "quiesce", "index", "sync", "transfer"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--system", default="")
    parser.add_argument("--location", default="")
    parser.add_argument("--bind", action="append", default=[], help="an address; repeatable")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--manifest", action="store_true", help="index: print the manifest too")
    parser.add_argument(
        "--all-cores", action="store_true", help="index: hash on every core (an idle host)"
    )
    parser.add_argument("--from", dest="source", type=Path, help="sync: the directory copied")
    parser.add_argument("--to", type=Path, help="quiesce: the directory synced on this machine")
    parser.add_argument("--manifest-file", type=Path, help="index, sync: write the manifest")
    parser.add_argument("--fault", action="store_true", help="sync: corrupt one file copied")
    parser.add_argument(
        "--unless-empty",
        action="store_true",
        help="sync: change nothing from a source without files",
    )
    args = parser.parse_args(argv)
    home: Path = args.dir.resolve()
    try:
        if args.action == "start":
            result = start(home, args)
        elif args.action == "quiesce":
            result = quiesce(home, args, rsync)
        elif args.action == "index":
            result = index(home, args.manifest, args.all_cores, args.manifest_file)
        elif args.action == "transfer":
            result = transfer(home, rsync)
        elif args.action == "sync":
            if args.source is None:
                raise RuntimeError("sync needs --from DIR")
            source = args.source.resolve()
            result = sync(home, source, args.manifest_file, args.fault, args.unless_empty)
        else:
            result = stop(home, args.timeout)
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, FailedWithReportError):
            print(json.dumps(exc.report))
        print(f"svcctl {args.action} {home}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
