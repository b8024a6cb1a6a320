"""``LocalKafka``: start, stop and inspect the single-node development broker.

This is what ``govmig kafka up|down|status`` and the test fixtures call. It
ties the pieces together: the jars (``jars``), the config text (``render``),
the files (``layout``), the process (``processes``) and readiness
(``readiness``). It stops only a process it can prove is its own broker.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from orchestrator.devkafka import layout, processes, render
from orchestrator.devkafka.jars import ensure_jars
from orchestrator.devkafka.readiness import BrokerExitedError, BrokerNotReadyError, wait_until_ready
from orchestrator.devkafka.toolchain import find_java
from orchestrator.errors import ConfigurationError
from orchestrator.settings import LocalKafkaSettings

_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*(?:-[0-9A-Za-z.]+)*")
_HEAP = re.compile(r"[1-9][0-9]*[kKmMgG]?")
_FORMAT_TIMEOUT_S = 120.0
_ABORT_TIMEOUT_S = 5.0
# A one-node broker for development, the tests and the demo, on machines as small as
# 2 cores: the client JIT alone and a single-threaded collector cost about 40% less CPU
# than the server defaults, to start (2.3 s against 3.8 s here) and idle alike.
_JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


class BrokerState(StrEnum):
    """What ``status`` found in the data directory."""

    RUNNING = "running"
    STOPPED = "stopped"
    STALE = "stale"  # a pid record whose process is gone or is not our broker


class BrokerStatus(BaseModel):
    """The truth about one data directory's broker; ``--output json`` prints this."""

    model_config = ConfigDict(frozen=True)

    state: BrokerState
    pid: int | None
    bootstrap_servers: str
    port: int
    controller_port: int
    version: str
    data_dir: Path
    log: Path
    # Only meaningful while running: does the port accept connections right now?
    reachable: bool | None
    detail: str


class LocalKafka:
    """The development broker that lives in ``settings.data_dir``.

    ``path`` is the search path for ``java`` and ``mvn`` (None: ``$PATH``);
    ``stop_timeout_s`` bounds the clean shutdown before SIGKILL. Settings that
    cannot work (equal ports, a heap like "lots") are refused here, as a
    ``ConfigurationError``.
    """

    def __init__(
        self,
        settings: LocalKafkaSettings,
        *,
        path: str | None = None,
        stop_timeout_s: float = 30.0,
    ) -> None:
        _validate(settings)
        self._settings = settings
        self._paths = layout.BrokerPaths.under(settings.data_dir)
        self._path = path
        self._stop_timeout_s = stop_timeout_s

    def status(self) -> BrokerStatus:
        """Running, stopped or stale, checked against ``/proc`` rather than taken on trust."""
        try:
            record = layout.read_record(self._paths.record)
        except layout.UnreadableRecordError as error:
            return self._status(BrokerState.STALE, detail=str(error))
        if record is None:
            return self._status(BrokerState.STOPPED, detail=self._stopped_detail())
        if not processes.is_alive(record.pid):
            return self._status(
                BrokerState.STALE, record, detail=f"recorded pid {record.pid} is not running"
            )
        if not self._is_ours(record.pid):
            return self._status(
                BrokerState.STALE,
                record,
                detail=f"recorded pid {record.pid} is not a Kafka broker started from "
                f"{self._paths.server_properties}",
            )
        return self._running(record, detail=f"broker pid {record.pid}")

    def up(self) -> BrokerStatus:
        """Start the broker and wait until it answers; a no-op if ours is already running."""
        with layout.exclusive(self._paths.lock):
            current = self.status()
            if current.state is BrokerState.RUNNING:
                detail = f"already running (pid {current.pid})"
                return current.model_copy(update={"detail": detail})
            layout.remove_record(self._paths.record)  # stale, or nothing
            return self._start()

    def down(self) -> bool:
        """Stop our broker; False if none of ours was running (a stale record is removed)."""
        if not self._paths.data_dir.exists():
            return False  # nothing was ever started here; do not create the directory
        with layout.exclusive(self._paths.lock):
            current = self.status()
            if current.state is not BrokerState.RUNNING or current.pid is None:
                layout.remove_record(self._paths.record)
                return False
            processes.terminate(current.pid, timeout_s=self._stop_timeout_s)
            layout.remove_record(self._paths.record)
            return True

    def _stopped_detail(self) -> str:
        detail = f"no broker recorded in {self._data}"
        port = self._settings.port
        if not processes.is_port_free(render.LOOPBACK, port):
            # Likely a broker started some other way: say so rather than let `up` surprise.
            detail += f"; port {port} on {render.LOOPBACK} is in use by another process"
        return detail

    @property
    def _data(self) -> Path:
        return self._paths.data_dir

    def _is_ours(self, pid: int) -> bool:
        return render.is_our_broker(processes.command_line(pid), self._paths.server_properties)

    def _start(self) -> BrokerStatus:
        settings = self._settings
        java = find_java(self._path)
        processes.ensure_port_free(render.LOOPBACK, settings.port, option="--port")
        processes.ensure_port_free(
            render.LOOPBACK, settings.controller_port, option="--controller-port"
        )
        libs = ensure_jars(settings.cache_dir, settings.version, path=self._path)
        self._write_config()
        if not self._paths.meta_properties.exists():
            self._format_storage(java, libs)
        pid = processes.spawn_detached(self._broker_argv(java, libs), self._paths.log)
        record = layout.BrokerRecord(
            pid=pid,
            port=settings.port,
            controller_port=settings.controller_port,
            version=settings.version,
            server_properties=self._paths.server_properties,
            log=self._paths.log,
            started_at=datetime.now(UTC),
        )
        # Recorded before waiting, so an interrupted `up` still leaves `down` able to stop it.
        layout.write_record(self._paths.record, record)
        seconds = self._await_ready(record)
        return self._running(record, detail=f"started in {seconds:.1f} s (pid {pid})")

    def _await_ready(self, record: layout.BrokerRecord) -> float:
        try:
            return wait_until_ready(
                render.LOOPBACK,
                record.port,
                timeout_s=self._settings.start_timeout_s,
                alive=lambda: processes.is_alive(record.pid),
            )
        except (BrokerExitedError, BrokerNotReadyError) as error:
            self._abort(record.pid)
            raise ConfigurationError(
                f"{error}; killed the half-started broker (pid {record.pid}). "
                f"Last lines of {record.log}:\n{self._log_tail()}"
            ) from error
        except BaseException:
            self._abort(record.pid)  # Ctrl-C while waiting: leave nothing half-started
            raise

    def _abort(self, pid: int) -> None:
        processes.terminate(pid, timeout_s=_ABORT_TIMEOUT_S)
        layout.remove_record(self._paths.record)

    def _write_config(self) -> None:
        settings, paths = self._settings, self._paths
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        properties = render.server_properties(
            port=settings.port,
            controller_port=settings.controller_port,
            storage_dir=paths.storage_dir,
        )
        text = render.render_properties(properties, comment="written by govmig kafka up")
        paths.server_properties.write_text(text, encoding="utf-8")
        paths.log4j_config.write_text(render.render_log4j2(), encoding="utf-8")

    def _format_storage(self, java: Path, libs: Path) -> None:
        command = [
            *self._java_prefix(java, libs),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            render.new_cluster_id(),
            "-c",
            str(self._paths.server_properties),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_FORMAT_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            raise ConfigurationError(
                f"formatting the KRaft storage in {self._paths.storage_dir} failed "
                f"(exit {done.returncode}); if it holds an old broker's data, remove it. "
                "The tool said:\n" + render.tail_lines(done.stdout + done.stderr)
            )

    def _broker_argv(self, java: Path, libs: Path) -> list[str]:
        heap = self._settings.heap
        return [
            *self._java_prefix(java, libs, extra=(f"-Xmx{heap}", f"-Xms{heap}")),
            render.KAFKA_MAIN,
            str(self._paths.server_properties),
        ]

    def _java_prefix(self, java: Path, libs: Path, extra: tuple[str, ...] = ()) -> list[str]:
        return [
            str(java),
            *extra,
            *_JVM_OPTIONS,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._paths.log4j_config}",
            "-cp",
            f"{libs}/*",  # java expands the wildcard itself
        ]

    def _log_tail(self) -> str:
        try:
            text = self._paths.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        return render.tail_lines(text) or "(log is empty)"

    def _running(self, record: layout.BrokerRecord, *, detail: str) -> BrokerStatus:
        reachable = processes.accepts_connections(render.LOOPBACK, record.port)
        if not reachable:
            detail += f", but {render.LOOPBACK}:{record.port} refuses connections (see the log)"
        return self._status(BrokerState.RUNNING, record, detail=detail, reachable=reachable)

    def _status(
        self,
        state: BrokerState,
        record: layout.BrokerRecord | None = None,
        *,
        detail: str,
        reachable: bool | None = None,
    ) -> BrokerStatus:
        port = record.port if record else self._settings.port
        return BrokerStatus(
            state=state,
            pid=record.pid if record else None,
            bootstrap_servers=f"{render.LOOPBACK}:{port}",
            port=port,
            controller_port=record.controller_port if record else self._settings.controller_port,
            version=record.version if record else self._settings.version,
            data_dir=self._data,
            log=record.log if record else self._paths.log,
            reachable=reachable,
            detail=detail,
        )


def _validate(settings: LocalKafkaSettings) -> None:
    if settings.port == settings.controller_port:
        raise ConfigurationError(
            f"the broker port and the controller port are both {settings.port}: "
            "pass a different --controller-port"
        )
    for name, port in (("--port", settings.port), ("--controller-port", settings.controller_port)):
        if not 1 <= port <= 65535:
            raise ConfigurationError(f"{name} {port} is not a TCP port (1-65535)")
    if not _VERSION.fullmatch(settings.version):
        raise ConfigurationError(
            f"Kafka version {settings.version!r} is not a release number such as 4.1.1"
        )
    if not _HEAP.fullmatch(settings.heap):
        raise ConfigurationError(f"heap size {settings.heap!r} is not a JVM size such as 512m")


def describe_down(before: BrokerStatus, stopped: bool) -> str:
    """One line for the person who ran ``down``, from the status seen just before it."""
    if stopped:
        return f"stopped the broker (pid {before.pid}) in {before.data_dir}"
    if before.state is BrokerState.STALE:
        return f"nothing to stop: {before.detail}; removed the stale record"
    return f"nothing to stop: {before.detail}"
