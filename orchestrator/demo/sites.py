"""Where the demo's wave runs today, and which provider moves it.

Two answers, one shape (``Sites``): ``LocalSites`` creates the sources on this
machine for the ``local`` provider; ``LabSites`` brings up the lab of real hosts
(network namespaces with sshd and BIND 9, ``orchestrator.lab``), seeds each
source on a lab source host and points the system's registration at that host,
for the ``ssh`` provider. ``choose_sites`` takes the one asked for, or, when
none is, the lab as root and the local sandbox otherwise, with the reason in
one line. Each gives the PRD platforms the demo connects what their connect
event carries: the lab's IPv6 prefix for the platform and, on the lab, its
pool of target hosts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.errors import ConfigurationError
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.topology import Inventory
from orchestrator.lab import Lab, LabOptions, LabPaths, seed_systems
from orchestrator.lab.daemons import check_prerequisites
from orchestrator.lab.topology import plan_topology, platform_prefix
from orchestrator.providers.local_sandbox import prepare_source, stop_services

_SOURCE_FILES = 4
_SOURCE_BYTES = 256 * 1024
_LAB_SOURCES = 3


@dataclass(frozen=True)
class PlatformSite:
    """What a platform's connect event says of where its systems go."""

    platform: str
    ipv6_prefix: str
    hosts: tuple[str, ...] = ()  # the ssh provider's pool; none for the local provider


class Sites(Protocol):
    """Sources for a wave, and the ``govmig run`` options of the provider that moves them."""

    @property
    def provider(self) -> str:
        """The provider's name."""
        ...

    def prepare(
        self, wave: Sequence[BusinessSystem], stack: contextlib.ExitStack
    ) -> list[BusinessSystem]:
        """Create every source; the records to register (undone by ``stack``)."""
        ...

    def run_args(self) -> list[str]:
        """What ``govmig run`` needs to reach them."""
        ...

    def clear(self) -> None:
        """Stop whatever an earlier demo left here."""
        ...

    def platform_sites(self) -> list[PlatformSite]:
        """The platforms to connect before the wave."""
        ...


@dataclass(frozen=True)
class LocalSites:
    """Sources as directories and services on this machine (the ``local`` provider)."""

    work: Path
    inventory: Inventory
    platforms: tuple[str, ...] = ()
    provider: str = "local"

    def prepare(
        self, wave: Sequence[BusinessSystem], stack: contextlib.ExitStack
    ) -> list[BusinessSystem]:
        """A source directory with data and a live service per system."""
        stack.callback(stop_services, self.work)
        for system in wave:
            prepare_source(self.work, system.id, _SOURCE_FILES, _SOURCE_BYTES, seed=system.id)
        return list(wave)

    def run_args(self) -> list[str]:
        """The sandbox the local provider moves sources within."""
        return ["--provider", "local", "--work-root", str(self.work)]

    def clear(self) -> None:
        """Stop an earlier demo's services."""
        stop_services(self.work)

    def platform_sites(self) -> list[PlatformSite]:
        """Each platform with the lab's prefix for it (the local provider needs no hosts)."""
        return [PlatformSite(p, str(platform_prefix(self.inventory, p))) for p in self.platforms]


@dataclass(frozen=True)
class LabSites:
    """Sources on the lab's source hosts, migrated to its node hosts (the ``ssh`` provider)."""

    lab_dir: Path
    inventory: Inventory
    nodes: tuple[str, ...]
    platforms: tuple[str, ...] = ()
    provider: str = "ssh"

    @property
    def options(self) -> LabOptions:
        """A host for each node of the wave, and a pool for each platform."""
        return LabOptions(nodes=self.nodes, sources=_LAB_SOURCES, platforms=self.platforms)

    @property
    def lab(self) -> Lab:
        """The demo's own lab."""
        return Lab(LabPaths.under(self.lab_dir), self.inventory)

    def prepare(
        self, wave: Sequence[BusinessSystem], stack: contextlib.ExitStack
    ) -> list[BusinessSystem]:
        """The lab of ``options``; each source seeded on a source host."""
        lab = self.lab
        stack.callback(lab.down)
        lab.up(self.options)
        return seed_systems(lab, wave, size=_SOURCE_BYTES)

    def run_args(self) -> list[str]:
        """The lab's ssh-provider inventory."""
        return ["--provider", "ssh", "--hosts", str(self.lab_dir / "hosts.yml")]

    def clear(self) -> None:
        """Take down an earlier demo's lab."""
        if self.lab_dir.exists():
            self.lab.down()

    def platform_sites(self) -> list[PlatformSite]:
        """Each platform's prefix and target hosts, as the lab made them."""
        topology = plan_topology(self.inventory, self.options)
        return [
            PlatformSite(
                plan.node,
                str(plan.prefix),
                tuple(h.name for h in topology.of_role("target") if h.node == plan.node),
            )
            for plan in topology.platforms
        ]


def choose_sites(
    requested: str | None,
    home: Path,
    inventory: Inventory,
    *,
    nodes: Sequence[str],
    platforms: Sequence[str] = (),
) -> tuple[Sites, str]:
    """The sites for ``--provider`` (None: the lab if it can run here), and why, in one line."""
    lab = LabSites(home / "lab", inventory, tuple(nodes), tuple(platforms))
    local = LocalSites(home / "work", inventory, tuple(platforms))
    if requested == "ssh":
        check_prerequisites()
        return lab, "ssh provider on the lab of real hosts (asked for)"
    if requested == "local":
        return local, "local provider on this machine (asked for)"
    if requested is not None:
        raise ConfigurationError(f"the demo runs the local or the ssh provider, not {requested!r}")
    try:
        check_prerequisites()
    except ConfigurationError as why:
        return local, f"local provider on this machine: {why}"
    return lab, "ssh provider on the lab of real hosts (running as root)"
