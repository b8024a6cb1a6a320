"""Execution hosts: a node's playbooks run on a machine near its hosts, streamed over SSH.

Government networks are segmented: the orchestrator may not reach a city's
hosts, but a machine inside that city can. For a node that names an execution
host, ``PhaseRunner`` splits ansible-runner as AWX does under Receptor::

    ansible-runner transmit  (here: the job's kwargs and private data dir, as a stream)
      | ssh EXEC-HOST ... ansible-runner worker   (there: runs ansible-playbook)
      | ansible-runner process (here: events, status and artifacts, as for a local run)

The worker starts with an empty environment (``env -i``) plus the job's
``envvars``: ansible-runner reports a job's whole environment back in its
stream and artifacts, so nothing of the SSH session's or the host's own
environment travels, and the transmitted job holds only what the phase needs
(its inventory, extra vars, the run's SSH key for its ssh-agent). The worker
runs under ``guard.py`` watching its SSH session, and the SSH client here under
this process's guard, so a run ends on both machines when its orchestrator dies.
The worker's environment therefore also holds its guard's ``GOVMIG_RUN_TOKEN``
(that host's pid and start time, no secret): ours stays here, as ssh sends none.

An execution host runs govmig's own environment at the same path as here (the
playbooks, ansible-playbook, Mitogen and ``guard.py`` are found by the same
paths; the hosts inventory's known_hosts file too), as AWX's execution nodes
run one execution environment image.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner

from orchestrator.execution.guard import RUN_TMP, private_prefix
from orchestrator.execution.targets import ExecutionHost, plain_path

log = logging.getLogger(__name__)

# The worker's private data dir on the execution host (inventory, the run's SSH key).
REMOTE_PREFIX = "govmig-worker-"
CANCEL_POLL_S = 0.2
# How long past its own timeout a streamed run may go before the stream is cut here.
STREAM_GRACE_S = 60.0


@dataclass(frozen=True)
class Streamed:
    """What a streamed run ended with, as ansible-runner's ``process`` read it."""

    status: str
    rc: int
    explanation: str | None = None  # why the stream broke off, if it did


def worker_command(host: ExecutionHost, *, python: str, guard: Path) -> list[str]:
    """``ssh HOST`` running ``ansible-runner worker`` under a guard, in an empty environment."""
    plain_path(python, "interpreter an execution host runs")
    plain_path(guard, "guard an execution host runs")
    runner = str(Path(python).parent / "ansible-runner")
    python, guard_path, runner = (shlex.quote(p) for p in (python, str(guard), runner))
    # Checked before the exec, which leaves nothing behind to remove the dir if it fails.
    runnable = f"[ -x {python} ] && [ -r {guard_path} ] && [ -x {runner} ]"
    refused = f"cannot run govmig's {python} here (not there, or not this user's to run)"
    remote = " ".join(
        [
            f"d=$(mktemp -d /tmp/{REMOTE_PREFIX}XXXXXXXX) &&",
            f'{{ {runnable} || {{ rmdir "$d"; echo "{refused}" >&2; exit 126; }}; }} &&',
            'exec env -i PATH=/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8',
            f'{python} {guard_path} --parent $PPID --cleanup "$d" --tmp "$d/{RUN_TMP}" --',
            f'{runner} worker --private-data-dir "$d"',
        ]
    )
    login = ["-l", host.user, "-i", str(host.identity_file), "-o", "IdentitiesOnly=yes"]
    # -F /dev/null: no system ssh_config (SendEnv LANG LC_* would carry our locale across).
    return ["ssh", "-F", "/dev/null", *login, *host.ssh_options, host.address, remote]


class _Buffer(io.BytesIO):
    name = "<transmit>"  # ansible-runner's stream_dir asks the stream its name


def transmit(private_dir: Path, **job: Any) -> bytes:
    """The job as ansible-runner's transmit stream: its kwargs, then its private data dir."""
    stream = _Buffer()
    ansible_runner.interface.run(
        streamer="transmit", _output=stream, private_data_dir=str(private_dir), **job
    )
    return stream.getvalue()


def run_streamed(
    command: Sequence[str],
    job: bytes,
    *,
    artifact_dir: Path,
    event_handler: Callable[[Mapping[str, Any]], bool],
    cancel: threading.Event,
    timeout_s: float,
) -> Streamed:
    """Send ``job`` through ``command`` (the worker), and process what comes back.

    Events reach ``event_handler`` as they arrive; the worker's artifacts
    (stdout, rc, job events) land in ``artifact_dir`` as for a local run. A
    cancel or the timeout stops ``command`` (a guard: it takes the SSH client,
    and so the remote run, along).
    """
    with (
        tempfile.TemporaryFile() as errors,
        # Named as a private data dir: if this process is killed, the next orchestrator removes it.
        tempfile.TemporaryDirectory(prefix=private_prefix()) as scratch,
        subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
        ) as worker,
    ):
        assert worker.stdin is not None
        assert worker.stdout is not None
        threading.Thread(target=_send, args=(worker.stdin, job), daemon=True).start()
        stopped = threading.Event()
        limit = timeout_s + STREAM_GRACE_S
        threading.Thread(
            target=_stop_on, args=(worker, cancel, stopped, limit), daemon=True
        ).start()
        try:
            processor = ansible_runner.interface.run(
                streamer="process",
                _input=worker.stdout,
                private_data_dir=scratch,
                artifact_dir=str(artifact_dir),
                event_handler=event_handler,
                settings={},
                quiet=True,
            )
        finally:
            stopped.set()
            _reap(worker)
        status = "canceled" if cancel.is_set() else str(processor.status)
        rc = _rc(artifact_dir, worker.returncode)
        if status != "error":
            return Streamed(status=status, rc=rc)
        errors.seek(0)
        said = [
            line for line in errors.read().decode(errors="replace").splitlines() if line.strip()
        ]
        # ssh's last words; through a jump host, the jump's two lines before its two: why.
        explanation = "; ".join(said[-4:]) or "the worker stream ended without a result"
        log.warning("the worker stream broke off: %s", explanation)
        return Streamed(status=status, rc=rc, explanation=explanation)


def _reap(worker: subprocess.Popen[bytes]) -> None:
    """Wait a little for the worker's end, then make sure of it."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(10)
    if worker.poll() is None:
        worker.kill()
        worker.wait()


def _send(stdin: Any, job: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        stdin.write(job)
        stdin.close()


def _stop_on(
    worker: subprocess.Popen[bytes], cancel: threading.Event, stopped: threading.Event, limit: float
) -> None:
    """Stop the worker on a cancel, or once it outlives its own timeout by the grace."""
    deadline = time.monotonic() + limit
    while not stopped.wait(CANCEL_POLL_S):
        if cancel.is_set() or time.monotonic() > deadline:
            worker.terminate()
            return


def _rc(artifact_dir: Path, fallback: int | None) -> int:
    try:
        return int((artifact_dir / "rc").read_text().strip())
    except (OSError, ValueError):
        return -1 if fallback in (None, 0) else int(fallback)
