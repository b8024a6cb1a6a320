"""Where a scenario's systems live: the ``local`` sandbox or the lab's real hosts.

Each kind prepares the sources, gives ``govmig run`` its provider options, and
reads back what a client and an auditor would see: the cutover journal on the
target, and where the service answers by name.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import dns.message
import dns.query

from orchestrator.errors import ConfigurationError
from orchestrator.inventory.models import BusinessSystem
from orchestrator.lab import Lab, seed_systems
from orchestrator.lab.topology import ZONE
from orchestrator.migrations import SystemState
from orchestrator.providers.local_sandbox import (
    SOURCE_LOCATION,
    fetch_health,
    instance_dir,
    prepare_source,
    read_name_record,
    source_dir,
    stop_services,
)
from orchestrator.store import SystemRow

LAB_DNS = "10.213.0.53"
LAB_SERVICE_PORT = 8080


class Sites(Protocol):
    """The provider side of a scenario."""

    def options(self) -> tuple[str, ...]: ...

    def prepare(self, systems: Sequence[BusinessSystem]) -> list[BusinessSystem]: ...

    def journal_lines(self, row: SystemRow) -> int | None: ...

    def serving_from(self, row: SystemRow) -> str | None: ...

    def write(self, system_id: str, name: str, body: bytes) -> None:
        """``PUT /data/NAME`` through the system's name, as a client would."""

    def source_holds(self, row: SystemRow, name: str, body: bytes) -> bool:
        """Whether the system's source has the file ``name`` with ``body``."""

    def close(self) -> None: ...


def misplaced(sites: Sites, row: SystemRow) -> str | None:
    """Why ``row``'s service does not answer by name from where its state says; None if it does.

    A completed system must answer from its target, a rolled-back one from its source.
    """
    if row.state is SystemState.COMPLETED:
        expected = expected_target(sites, row)
    elif row.state is SystemState.ROLLED_BACK:
        expected = expected_source(sites, row)
    else:
        return None
    try:
        found = sites.serving_from(row)
    except OSError as error:
        return f"{row.id} ({row.state}) does not answer by name: {error}"
    if found != expected:
        return f"{row.id} ({row.state}) answers from {found}, not {expected}"
    return None


def expected_target(sites: Sites, row: SystemRow) -> str | None:
    return row.target_host if isinstance(sites, LabSites) else row.node


def expected_source(sites: Sites, row: SystemRow) -> str:
    if isinstance(sites, LabSites):
        return str(row.record["source"]["host"])
    return SOURCE_LOCATION


class LocalSites:
    """The ``local`` provider: every node a directory under ``work``."""

    def __init__(self, work: Path) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)

    def options(self) -> tuple[str, ...]:
        return ("--work-root", str(self.work))

    def prepare(self, systems: Sequence[BusinessSystem]) -> list[BusinessSystem]:
        for system in systems:
            prepare_source(self.work, system.id, 3, 24_000, seed=11)
        return list(systems)

    def journal_lines(self, row: SystemRow) -> int | None:
        if row.node is None:
            return None
        return _cutover_lines(instance_dir(self.work, row.node, row.id) / "journal.log")

    def serving_from(self, row: SystemRow) -> str | None:
        """Where the name leads; a completed system's target must hold its source's data."""
        record = read_name_record(self.work, row.id)
        health = fetch_health(record)
        if health.get("status") != "ok":
            return None
        if row.state is SystemState.COMPLETED and row.node is not None:
            target = instance_dir(self.work, row.node, row.id)
            if _digests(target) != _digests(source_dir(self.work, row.id)):
                return f"{health['location']} with data unlike its source's"
        return str(health["location"])

    def write(self, system_id: str, name: str, body: bytes) -> None:
        record = read_name_record(self.work, system_id)
        put(f"http://{record.host}:{record.port}/data/{name}", body)

    def source_holds(self, row: SystemRow, name: str, body: bytes) -> bool:
        return _holds(source_dir(self.work, row.id) / "data" / name, body)

    def close(self) -> None:
        stop_services(self.work)


class LabSites:
    """The lab's real hosts through the ``ssh`` provider."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def options(self) -> tuple[str, ...]:
        return ("--provider", "ssh", "--hosts", str(self.lab.paths.root / "hosts.yml"))

    def prepare(self, systems: Sequence[BusinessSystem]) -> list[BusinessSystem]:
        return seed_systems(self.lab, systems)

    def journal_lines(self, row: SystemRow) -> int | None:
        if row.target_host is None:
            return None
        disk = self.lab.host_root(row.target_host)
        return _cutover_lines(disk / "srv" / "govmig" / row.id / "journal.log")

    def serving_from(self, row: SystemRow) -> str | None:
        """Where the name leads; a completed system's AAAA must be its recorded IPv6 address."""
        if row.state is SystemState.COMPLETED and resolve(row.id, "AAAA") != [row.ipv6_address]:
            return f"AAAA {resolve(row.id, 'AAAA')}, not the stored {row.ipv6_address}"
        (address,) = resolve(row.id, "A")
        url = f"http://{address}:{LAB_SERVICE_PORT}/health"
        with urllib.request.urlopen(url, timeout=5) as answer:  # the lab's own address
            return str(json.load(answer)["location"])

    def write(self, system_id: str, name: str, body: bytes) -> None:
        (address,) = resolve(system_id, "A")
        put(f"http://{address}:{LAB_SERVICE_PORT}/data/{name}", body)

    def source_holds(self, row: SystemRow, name: str, body: bytes) -> bool:
        try:
            disk = self.lab.host_root(str(row.record["source"]["host"]))
        except ConfigurationError:  # not a lab host: it holds nothing of ours
            return False
        return _holds(disk / "srv" / "govmig" / row.id / "data" / name, body)

    def close(self) -> None:
        """The lab outlives a scenario; the rig takes it down."""


def resolve(system_id: str, rdtype: str) -> list[str]:
    """The lab name's records of ``rdtype``, asked of the lab's BIND."""
    query = dns.message.make_query(f"{system_id}.{ZONE}", rdtype)
    response = dns.query.tcp(query, LAB_DNS, timeout=3)
    return sorted(item.to_text() for rrset in response.answer for item in rrset)


def put(url: str, body: bytes) -> None:
    """One PUT, which must succeed."""
    request = urllib.request.Request(url, data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=5):  # the sandbox's or the lab's own address
        pass


def _holds(path: Path, body: bytes) -> bool:
    return path.is_file() and path.read_bytes() == body


def _digests(home: Path) -> dict[str, str]:
    data = home / "data"
    if not data.is_dir():
        return {}
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in data.iterdir()}


def _cutover_lines(journal: Path) -> int:
    if not journal.is_file():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if line.startswith("cutover "))
