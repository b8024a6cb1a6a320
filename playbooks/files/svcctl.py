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
already answers changes nothing. ``stop`` ends it and removes its pid and port
files; stopping what is not running changes nothing. Errors go to stderr with
exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
    host = f"[{address}]" if ":" in address else address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=timeout) as resp:
            answer: dict[str, object] = json.load(resp)
    except (OSError, ValueError):
        return None
    return answer


def running(home: Path, address: str) -> int | None:
    """The pid of this directory's service if it is up and answering, else None."""
    pid = read_int(home / PID_FILE)
    if pid is None or not is_service(pid, home) or health(home, address) is None:
        return None
    return pid


def service_env() -> dict[str, str]:
    """A small environment: the service must not inherit Ansible's, nor any credential in it."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")
    return {name: os.environ[name] for name in keep if name in os.environ}


def launch(home: Path, args: argparse.Namespace) -> int:
    """Start the service detached from us and wait until it answers; return its pid."""
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
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"service exited with status {child.returncode}; see {LOG_FILE}")
        if read_int(home / PID_FILE) == child.pid and health(home, _address(args)) is not None:
            return child.pid
        time.sleep(0.02)
    child.kill()
    raise RuntimeError(f"service did not answer within {args.timeout:g}s")


def _address(args: argparse.Namespace) -> str:
    """Where to ask for health: the first bound address, else loopback (service.py's default)."""
    return str(args.bind[0]) if args.bind else "127.0.0.1"


def start(home: Path, args: argparse.Namespace) -> dict[str, object]:
    """Make sure the service runs; report whether that took a start."""
    pid = running(home, _address(args))
    changed = pid is None
    if pid is None:
        if not (home / "service.py").is_file():
            raise RuntimeError(f"no service.py in {home}")
        pid = launch(home, args)
    port = read_int(home / PORT_FILE)
    return {"changed": changed, "pid": pid, "port": port, "health": health(home, _address(args))}


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="start or stop a govmig sample service")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--system", default="")
    parser.add_argument("--location", default="")
    parser.add_argument("--bind", action="append", default=[], help="an address; repeatable")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    home: Path = args.dir.resolve()
    try:
        result = start(home, args) if args.action == "start" else stop(home, args.timeout)
    except (OSError, RuntimeError) as exc:
        print(f"svcctl {args.action} {home}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
