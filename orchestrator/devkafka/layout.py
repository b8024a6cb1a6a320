"""Where the development broker keeps its files, and the record of the process it runs.

The data directory holds the generated config, the KRaft storage, the broker
log and ``broker.json``: the pid record that ``down`` and ``status`` trust only
after checking it against ``/proc``.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError


@dataclass(frozen=True)
class BrokerPaths:
    """The files of one broker, all absolute so they can be matched in a command line."""

    data_dir: Path

    @classmethod
    def under(cls, data_dir: Path) -> BrokerPaths:
        """The layout rooted at ``data_dir``, made absolute."""
        return cls(data_dir.expanduser().absolute())

    @property
    def server_properties(self) -> Path:
        """The broker's config, named on its command line (that is how we recognise it)."""
        return self.data_dir / "server.properties"

    @property
    def log4j_config(self) -> Path:
        """The log4j2 config passed with ``-Dlog4j2.configurationFile``."""
        return self.data_dir / "log4j2.properties"

    @property
    def storage_dir(self) -> Path:
        """The KRaft ``log.dirs``: topic partitions and the metadata log."""
        return self.data_dir / "storage"

    @property
    def meta_properties(self) -> Path:
        """Written by the storage format; its presence means "already formatted"."""
        return self.storage_dir / "meta.properties"

    @property
    def log(self) -> Path:
        """The broker's stdout and stderr, which is also where log4j2 writes."""
        return self.data_dir / "broker.log"

    @property
    def record(self) -> Path:
        """The pid record of the running broker."""
        return self.data_dir / "broker.json"

    @property
    def lock(self) -> Path:
        """Held while ``up`` or ``down`` runs, so two of them never race on one broker."""
        return self.data_dir / ".lock"


class BrokerRecord(BaseModel):
    """What ``up`` wrote about the broker it started."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: int
    port: int
    controller_port: int
    version: str
    server_properties: Path
    log: Path
    started_at: datetime


class UnreadableRecordError(Exception):
    """``broker.json`` exists but is not a record we wrote (truncated, edited, foreign)."""


def read_record(path: Path) -> BrokerRecord | None:
    """The record at ``path``; None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return BrokerRecord.model_validate_json(text)
    except ValidationError as error:
        raise UnreadableRecordError(
            f"{path} is not a broker record: {error.error_count()} errors"
        ) from error


def write_record(path: Path, record: BrokerRecord) -> None:
    """Write the record atomically, so a reader never sees half of it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def remove_record(path: Path) -> None:
    """Forget the record; a missing one is already forgotten."""
    path.unlink(missing_ok=True)


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if needed) for the block."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
