"""The batched executor: one ansible-runner invocation per batch of one phase.

The only module in govmig that imports ``ansible_runner``. The phase worker
hands it a phase and a batch's systems with the nodes they are placed on (one
or more nodes, all run from one place: here, or one execution host); it builds
the inventory (exactly those systems as hosts, with their node's and the
provider's vars) and the extra vars, runs the phase's playbook once for all of
them, and returns one outcome per system, so one bad system fails alone while
the rest of the batch goes on.

Artifacts (events, stdout, rc, status) of each run are kept under
``artifacts_dir/<ident>`` and rotated here rather than by ansible-runner's
``rotate_artifacts``, whose pruning races when batches for several nodes run
at once; the inventory and extra vars live in a private data dir that is
deleted after the run. The run's secrets leave that dir as soon as the run has
read them, when its playbook starts (``playbooks/callback_plugins/govmig_forget_secrets.py``):
the inventory, which holds them, and the SSH private key
(``govmig_secret_ssh_private_key``), which goes to ansible-runner's ``ssh_key``
instead: ansible-runner writes it into the dir's ``env/ssh_key``, and loads it
into an ``ssh-agent`` for the run before ansible-playbook starts.

Every run starts under a guard (``guard.py``) that ends the run's whole
process tree and removes its private data dir if this process dies, so no
playbook of a dead orchestrator goes on acting after it.

A run that Mitogen cannot carry (it fails before any host reports) is
retried once with the ``linear`` strategy, which is safe because every phase
is idempotent, and the runner keeps ``linear`` from then on.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.execution import remote
from orchestrator.execution.guard import RUN_TMP, end_unguarded_runs, private_prefix
from orchestrator.execution.outcomes import EventCollector, RunResult
from orchestrator.execution.provider import Provider
from orchestrator.execution.strategy import LINEAR, AnsibleStrategy, choose_strategy
from orchestrator.execution.targets import (
    MAX_DOWN_ENV,
    ExecutionHost,
    HostVarsHook,
    NodeWork,
    build_extravars,
    build_inventory,
    check_provider,
    check_secrets,
    runner_envvars,
    scrub_environment,
    split_ssh_key,
)
from orchestrator.migrations.states import PLAYBOOKS, Phase
from orchestrator.redaction import register_all
from orchestrator.settings import DEFAULT_FORKS, DEFAULT_MAX_DOWN, DEFAULT_PHASE_TIMEOUT_S

log = logging.getLogger(__name__)

# How often ansible-runner asks whether to cancel (its default is every 5 s).
CANCEL_POLL_S = 0.2
# Run as a script (standard library only), around every ansible-playbook.
GUARD_SCRIPT = Path(__file__).with_name("guard.py")
# Run as a script: ansible-playbook, started with a cache of the YAML each start parses.
PLAYBOOK_START = PLAYBOOK_DIR / "plugin_utils" / "govmig_playbook.py"
# The run's ssh-agent's socket, in the run's temp dir.
AGENT_SOCKET = "ssh-agent.sock"
# A Unix socket's path is at most 107 bytes (sun_path, with its NUL). A run makes its sockets
# in its temp dir (<temp dir>/<private_prefix()>XXXXXXXX/tmp), and the longest socket name
# is ssh's for a jump host's shared login while it makes it: govmig-jump, a dot and 16 more
# (Mitogen's multiplexer's is 26, the run's ssh-agent's 14).
SOCKET_PATH_MAX, LONGEST_SOCKET = 107, 28


@dataclass(frozen=True, slots=True)
class _Invocation:
    """Everything one ansible-runner call needs, so a retry repeats it exactly."""

    phase: Phase
    ident: str
    nodes: tuple[str, ...]
    inventory: dict[str, Any]
    extravars: dict[str, str]
    cancel: threading.Event
    ssh_key: str | None = field(default=None, repr=False)
    # Where it runs: None here, else the nodes' execution host (``remote.py``).
    executor: ExecutionHost | None = None


@dataclass(frozen=True, slots=True)
class _Done:
    """A finished invocation: what ran, how, and what the events said."""

    job: _Invocation
    strategy: AnsibleStrategy
    collector: EventCollector
    status: str
    rc: int
    broke_on_mitogen: bool


class PhaseRunner:
    """Runs one phase's playbook for a batch of systems, on one node or several.

    Thread-safe: batches may run at once. ``strategy`` is
    the Ansible strategy in use; it drops to ``linear`` if Mitogen breaks.
    ``host_vars_hooks`` add vars to each host after the provider's.
    """

    def __init__(
        self,
        *,
        playbook_dir: Path,
        artifacts_dir: Path,
        provider: Provider,
        host_vars_hooks: Sequence[HostVarsHook] = (),
        use_mitogen: bool = True,
        timeout_s: float = DEFAULT_PHASE_TIMEOUT_S,
        keep_artifacts: int = 50,
        forks: int = DEFAULT_FORKS,
        max_down: int = DEFAULT_MAX_DOWN,
        python: str = sys.executable,
    ) -> None:
        self.playbook_dir = playbook_dir.resolve()
        self.artifacts_dir = artifacts_dir.resolve()
        self.provider = provider
        self._role = check_provider(provider.name)
        self._hooks = tuple(host_vars_hooks)
        self.timeout_s = timeout_s
        self.keep_artifacts = keep_artifacts
        self.forks = forks
        self.max_down = max_down
        self.python = python
        self._check_layout()
        self.strategy, reason = choose_strategy(use_mitogen=use_mitogen)
        log.info("ansible strategy %s (%s)", self.strategy.name, reason)
        self._runs = itertools.count(1)
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._invocations = 0

    @property
    def invocations(self) -> int:
        """How many times this runner called ansible-runner: once a batch, twice on a retry."""
        return self._invocations

    def _check_layout(self) -> None:
        if not (self.playbook_dir / "roles" / self._role).is_dir():
            raise ConfigurationError(f"no role for provider {self._role!r} in {self.playbook_dir}")
        if min(self.timeout_s, self.keep_artifacts, self.forks, self.max_down) <= 0:
            raise ConfigurationError(
                "timeout, kept artifacts, forks and hosts down at once must be positive"
            )
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        check_temp_dir(Path(tempfile.gettempdir()))

    def run(
        self,
        phase: Phase | str,
        work: Sequence[NodeWork],
        *,
        cancel: threading.Event | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> RunResult:
        """Run ``phase`` for every system of the batch, on its nodes, in one invocation."""
        phase = Phase(phase)
        secrets = check_secrets(secrets or {})
        register_all(secrets)  # no log line of this process may show them from now on
        ssh_key, inventory_secrets = split_ssh_key(secrets)
        inventory = build_inventory(
            phase,
            work,
            provider=self.provider,
            hooks=self._hooks,
            secrets=inventory_secrets,
        )
        nodes = tuple(node.node_id for node, _systems in work)
        job = _Invocation(
            phase=phase,
            ident=self._ident(phase, nodes),
            nodes=nodes,
            inventory=inventory,
            extravars=build_extravars(provider=self._role),
            cancel=cancel or threading.Event(),
            ssh_key=ssh_key,
            executor=self._execution_host(work),
        )
        started = time.monotonic()
        done = self._run_with_fallback(job, secrets)
        ids = [system.system_id for _node, systems in work for system in systems]
        return RunResult(
            phase=phase,
            nodes=nodes,
            ident=done.job.ident,
            artifact_dir=self.artifacts_dir / done.job.ident,
            rc=done.rc,
            status=done.status,
            duration_s=time.monotonic() - started,
            strategy=done.strategy.name,
            outcomes=done.collector.outcomes(ids, status=done.status, rc=done.rc),
        )

    def _execution_host(self, work: Sequence[NodeWork]) -> ExecutionHost | None:
        """Where the run goes: one place for every node of the batch, or no run at all."""
        places = {self.provider.execution_host(node) for node, _systems in work}
        if len(places) != 1:
            names = sorted(node.node_id for node, _systems in work)
            raise PermanentError(
                f"nodes {', '.join(names)} do not run from one place (this machine or one "
                "execution host), so they cannot share a batch"
            )
        return places.pop()

    def _ident(self, phase: Phase, nodes: Sequence[str]) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        where = nodes[0] if len(nodes) == 1 else f"{nodes[0]}+{len(nodes) - 1}"
        return f"{stamp}-{phase.value}-{where}-{next(self._runs)}-{uuid.uuid4().hex[:6]}"

    def _run_with_fallback(self, job: _Invocation, secrets: Mapping[str, str]) -> _Done:
        done = self._invoke(job, self.strategy, EventCollector(secrets=secrets))
        if done.strategy is LINEAR or not done.broke_on_mitogen:
            return done
        log.warning(
            "%s on %s failed under %s before any host reported; retrying with linear",
            job.phase.value,
            ", ".join(job.nodes),
            done.strategy.name,
        )
        self.strategy = LINEAR
        retry = replace(job, ident=f"{job.ident}-linear")
        return self._invoke(retry, LINEAR, EventCollector(secrets=secrets))

    def _invoke(
        self, job: _Invocation, strategy: AnsibleStrategy, collector: EventCollector
    ) -> _Done:
        """One ansible-runner call, then artifact rotation."""
        log.info(
            "running %s on %s for %d systems with %s on %s (artifacts %s)",
            job.phase.value,
            ", ".join(job.nodes),
            len(job.inventory["all"]["hosts"]),
            strategy.name,
            job.executor.name if job.executor else "this host",
            job.ident,
        )
        with self._lock:
            self._invocations += 1
            self._active.add(job.ident)
        try:
            status, rc = self._call_runner(job, strategy, collector)
        finally:
            with self._lock:
                self._active.discard(job.ident)
                prune_artifacts(self.artifacts_dir, self.keep_artifacts, frozenset(self._active))
        broke = _broke(status, collector, self.artifacts_dir / job.ident / "stdout")
        return _Done(job, strategy, collector, status, rc, broke)

    def _call_runner(
        self, job: _Invocation, strategy: AnsibleStrategy, collector: EventCollector
    ) -> tuple[str, int]:
        """ansible-runner itself, here or on the execution host: its status and rc.

        Nothing of the run acts on (a run whose guard was killed alone is ended
        here), and then its private data dir (inventory, vars, its temp dir) is
        deleted: in that order, as a run still dying writes its temp files there.
        """
        private = Path(tempfile.mkdtemp(prefix=private_prefix()))
        try:
            if job.executor is None:
                return self._run_here(job, strategy, collector, private)
            return self._run_on(job.executor, job, strategy, collector, private)
        finally:
            if ended := end_unguarded_runs():
                log.warning("ended %d playbook runs whose guard was killed (%s)", ended, job.ident)
            shutil.rmtree(private, ignore_errors=True)

    def _job(self, job: _Invocation, strategy: AnsibleStrategy) -> dict[str, Any]:
        """What ansible-runner is asked to run, wherever it runs."""
        return {
            "project_dir": str(self.playbook_dir),
            "playbook": str(self.playbook_dir / PLAYBOOKS[job.phase]),
            "inventory": job.inventory,
            "extravars": job.extravars,
            "envvars": {
                **runner_envvars(strategy, python=self.python),
                MAX_DOWN_ENV: str(self.max_down),
                **self.provider.run_env,
            },
            "ident": job.ident,
            "forks": self.forks,
            "timeout": max(1, math.ceil(self.timeout_s)),
            "settings": {"pexpect_timeout": CANCEL_POLL_S},
            # None, or the SSH key for an ssh-agent that lives only for this run.
            "ssh_key": job.ssh_key,
        }

    def _run_here(
        self, job: _Invocation, strategy: AnsibleStrategy, collector: EventCollector, private: Path
    ) -> tuple[str, int]:
        runner = ansible_runner.interface.init_runner(
            private_data_dir=str(private),
            artifact_dir=str(self.artifacts_dir),
            event_handler=collector.on_event,
            cancel_callback=job.cancel.is_set,
            quiet=True,
            **self._job(job, strategy),
        )
        # ansible-runner seeds the job's environment with ours and writes it into
        # the artifacts: keep only what ansible-playbook needs, never a credential.
        keep = self.provider.env_names | frozenset(self.provider.run_env)
        runner.config.env = scrub_environment(runner.config.env, keep=keep)
        tmp = private / RUN_TMP
        runner.config.command = guarded(
            with_yaml_cache(runner.config, agent_socket=tmp / AGENT_SOCKET), remove=private, tmp=tmp
        )
        with exec_or_exit():
            runner.run()
        return str(runner.status), _rc(runner)

    def _run_on(
        self,
        host: ExecutionHost,
        job: _Invocation,
        strategy: AnsibleStrategy,
        collector: EventCollector,
        private: Path,
    ) -> tuple[str, int]:
        """transmit | ssh host worker | process: the SSH client runs under our guard."""
        payload = remote.transmit(private, **self._job(job, strategy))
        shutil.rmtree(private, ignore_errors=True)  # the job is in memory now, key included
        command = remote.worker_command(host, python=self.python, guard=GUARD_SCRIPT)
        done = remote.run_streamed(
            guarded(command, remove=private),
            payload,
            artifact_dir=self.artifacts_dir / job.ident,
            event_handler=collector.on_event,
            cancel=job.cancel,
            timeout_s=self.timeout_s,
        )
        if done.explanation:
            collector.explanation = f"execution host {host.name}: {done.explanation}"
        return done.status, done.rc


def longest_temp_dir() -> int:
    """The longest temp dir path (bytes) in which this process's runs can make their sockets."""
    run_tmp = f"/{private_prefix()}XXXXXXXX/{RUN_TMP}/"  # mkdtemp adds 8 characters
    return SOCKET_PATH_MAX - len(run_tmp) - LONGEST_SOCKET


def check_temp_dir(temp_dir: Path) -> None:
    """Refuse a temp dir whose path leaves a run's sockets too long to be made.

    Mitogen's multiplexer then crashes as it starts, and its run hangs until its timeout.
    """
    most = longest_temp_dir()
    size = len(os.fsencode(temp_dir))
    if size > most:
        raise ConfigurationError(
            f"the temp dir's path is too long for the sockets a playbook run makes in it:"
            f" {temp_dir} ({size} bytes, at most {most}); set TMPDIR to a shorter one, such as /tmp"
        )


@contextlib.contextmanager
def exec_or_exit() -> Iterator[None]:
    """Around ansible-runner's start of ansible-playbook: a forked child that comes back
    out of it ends at once.

    ptyprocess forks, then sets up the child's terminal before its exec; an error
    there (EIO: the terminal hung up, as when we were killed -9 mid-fork) raises in
    the child, which would go on as a second copy of this process, acting for an
    orchestrator that is gone. It must never run our code.
    """
    parent = os.getpid()
    try:
        yield
    finally:
        if os.getpid() != parent:
            os._exit(127)


def with_yaml_cache(config: Any, *, agent_socket: Path) -> list[str]:
    """ansible-runner's command for ``config``, its ``ansible-playbook`` started by
    ``govmig_playbook.py``: the YAML every start parses comes from a cache.

    A run with an SSH key goes under ``ssh-agent`` as ansible-runner's own would, but
    listening on ``agent_socket`` (in the run's temp dir): by default the agent makes a
    directory in /tmp that it removes on SIGTERM only, and a cancel ends it with SIGKILL.
    """
    if config.sandboxed or config.containerized:  # not how govmig runs: left as it is
        return list(config.command)
    command = [sys.executable, str(PLAYBOOK_START), *config.generate_ansible_command()]
    if config.ssh_key_data:
        wrapped = config.wrap_args_with_ssh_agent(command, config.ssh_key_path, str(agent_socket))
        return list(wrapped)
    return command


def guarded(command: Sequence[str], *, remove: Path, tmp: Path | None = None) -> list[str]:
    """``command`` under this process's guard (``guard.py``): it dies when we do, and
    keeps its temporary files in ``tmp`` if given."""
    guard = [sys.executable, str(GUARD_SCRIPT), "--parent", str(os.getpid()), "--remove"]
    temp = ["--tmp", str(tmp)] if tmp is not None else []
    return [*guard, str(remove), *temp, "--", *command]


def prune_artifacts(artifacts_dir: Path, keep: int, active: frozenset[str]) -> None:
    """Remove the oldest run directories beyond ``keep``, never one still running.

    Tolerates another process pruning the same directory at the same time.
    """
    runs = []
    for path in artifacts_dir.iterdir():
        with contextlib.suppress(OSError):
            if path.is_dir() and path.name not in active:
                runs.append((path.stat().st_mtime, path))
    runs.sort()
    for _, stale in runs[: max(0, len(runs) + len(active) - keep)]:
        shutil.rmtree(stale, ignore_errors=True)


def kept_events(artifact_dir: Path) -> list[dict[str, Any]]:
    """The events ansible-runner kept of a finished run (``RunResult.artifact_dir``), in the
    order they happened: what benchmarks and tests read of a run after it."""
    events = [json.loads(path.read_text()) for path in (artifact_dir / "job_events").glob("*.json")]
    return sorted(events, key=lambda event: int(event["counter"]))


def _rc(runner: Any) -> int:
    return int(runner.rc) if runner.rc is not None else -1


def _broke(status: str, collector: EventCollector, stdout: Path) -> bool:
    """Whether a run died naming Mitogen before any host reported (not a timeout or cancel)."""
    if status != "failed" or collector.host_events:
        return False
    try:
        return "mitogen" in stdout.read_text(errors="replace").lower()
    except OSError:
        return False
