"""The ``local`` provider's world outside the playbooks: sources and name records.

Sits beside the executor in ``execution/``: the demo, the benchmarks and the
tests call ``prepare_source`` to create a business system's source from the
catalogue (deterministic data, a running service, a name record), and
``stop_services`` to leave no process behind. The playbooks then move what
this module created. The layout under a work root:

- ``sources/<system>/``: ``data/``, ``service.py``, ``service.port``/``.pid``
- ``nodes/<node>/instances/<system>/``: what the playbooks provision
- ``dns/<system>.json``: the name record, ``{"host", "port", "location"}``
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.errors import ConfigurationError
from orchestrator.inventory.models import SYSTEM_ID_PATTERN

SOURCE_LOCATION = "source"
_MAX_SOURCE_BYTES = 64 * 1024 * 1024  # keep the sandbox small: this is a demo's data


@dataclass(frozen=True, slots=True)
class NameRecord:
    """Where clients of a system connect: the file-based DNS entry."""

    host: str
    port: int
    location: str

    @property
    def health_url(self) -> str:
        """The system's health URL as a client resolves it."""
        return f"http://{self.host}:{self.port}/health"


def source_dir(work_root: Path, system_id: str) -> Path:
    """Where a system's source lives."""
    return work_root / "sources" / system_id


def instance_dir(work_root: Path, node: str, system_id: str) -> Path:
    """Where a system's instance lives on a node."""
    return work_root / "nodes" / node / "instances" / system_id


def name_record_path(work_root: Path, system_id: str) -> Path:
    """The name record file of a system."""
    return work_root / "dns" / f"{system_id}.json"


def read_name_record(work_root: Path, system_id: str) -> NameRecord:
    """The current name record of a system."""
    raw = json.loads(name_record_path(work_root, system_id).read_text())
    return NameRecord(host=str(raw["host"]), port=int(raw["port"]), location=str(raw["location"]))


def write_name_record(work_root: Path, system_id: str, record: NameRecord) -> None:
    """Replace a name record atomically: a client reads the old one or the new one."""
    path = name_record_path(work_root, system_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    body = {"host": record.host, "port": record.port, "location": record.location}
    tmp.write_text(json.dumps(body) + "\n")
    tmp.replace(path)


def fetch_health(record: NameRecord, timeout: float = 5.0) -> dict[str, object]:
    """GET the health URL a name record resolves to."""
    with urllib.request.urlopen(record.health_url, timeout=timeout) as resp:  # noqa: S310
        answer: dict[str, object] = json.load(resp)
    return answer


def make_blobs(size_bytes: int, count: int, seed: str) -> list[bytes]:
    """``count`` blobs of deterministic bytes, derived from ``seed``, summing to ``size_bytes``."""
    base, extra = divmod(size_bytes, count)
    return [
        hashlib.shake_256(f"{seed}:{i}".encode()).digest(base + (1 if i < extra else 0))
        for i in range(count)
    ]


def _check_request(system_id: str, files: int, size_bytes: int) -> None:
    if not re.fullmatch(SYSTEM_ID_PATTERN, system_id):
        raise ConfigurationError(f"not a system id: {system_id!r}")
    if files < 1 or not 0 < size_bytes <= _MAX_SOURCE_BYTES:
        raise ConfigurationError(
            f"a source needs at least one file and 1..{_MAX_SOURCE_BYTES} bytes, "
            f"got {files} files and {size_bytes} bytes"
        )


def prepare_source(
    work_root: Path,
    system_id: str,
    data_files: int,
    size_bytes: int,
    seed: int | str,
    *,
    playbook_dir: Path = PLAYBOOK_DIR,
) -> NameRecord:
    """Create a system's source with deterministic data, start its service, publish its record.

    The same ``(system_id, seed)`` always gives the same bytes. Calling it again
    rewrites the data and leaves a running service running.
    """
    _check_request(system_id, data_files, size_bytes)
    home = source_dir(work_root, system_id)
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    for stale in data.glob("part-*.bin"):
        stale.unlink()
    for index, blob in enumerate(make_blobs(size_bytes, data_files, f"{seed}:{system_id}")):
        (data / f"part-{index:04d}.bin").write_bytes(blob)
    shutil.copyfile(playbook_dir / "files" / "service.py", home / "service.py")
    started = _svcctl(playbook_dir, "start", home, system_id, SOURCE_LOCATION)
    record = NameRecord(host="127.0.0.1", port=int(str(started["port"])), location=SOURCE_LOCATION)
    write_name_record(work_root, system_id, record)
    return record


def stop_services(work_root: Path, *, playbook_dir: Path = PLAYBOOK_DIR) -> int:
    """Stop every sample service under ``work_root``; return how many were running.

    Services are stopped through their pid files; any ``service.py`` left
    running from under ``work_root`` without one (a start cut short by a
    cancelled run) is then killed by its command line.
    """
    pid_files = sorted(work_root.glob("sources/*/service.pid"))
    pid_files += sorted(work_root.glob("nodes/*/instances/*/service.pid"))
    stopped = sum(
        stop_service(pid_file.parent, playbook_dir=playbook_dir) for pid_file in pid_files
    )
    return stopped + _kill_strays(work_root.resolve())


def stop_service(home: Path, *, playbook_dir: Path = PLAYBOOK_DIR) -> bool:
    """Stop the service running in ``home``; return whether one was running."""
    return bool(_svcctl(playbook_dir, "stop", home)["changed"])


def _kill_strays(work_root: Path) -> int:
    """SIGKILL any process running a ``service.py`` from under ``work_root``."""
    killed = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        script = next((arg for arg in argv if arg.endswith(b"/service.py")), None)
        if script is not None and Path(os.fsdecode(script)).is_relative_to(work_root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
    return killed


def _svcctl(
    playbook_dir: Path, action: str, home: Path, system: str = "", location: str = ""
) -> dict[str, object]:
    """Run the same start/stop helper the playbooks use, with an argv list."""
    argv = [sys.executable, str(playbook_dir / "files" / "svcctl.py"), action, "--dir", str(home)]
    if action == "start":
        argv += ["--system", system, "--location", location]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=_clean_env())
    if done.returncode != 0:
        raise ConfigurationError(f"cannot {action} the service in {home}: {done.stderr.strip()}")
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _clean_env() -> dict[str, str]:
    # The service must not inherit test or CI settings that change Python's behaviour.
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
