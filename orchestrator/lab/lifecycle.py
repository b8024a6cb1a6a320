"""``up``, ``down`` and ``status`` of the lab: the sequence, the record, the truth. I/O.

``up`` records its options before it creates anything and each pid as soon as
it has one, so ``down`` can undo any part of it. ``status`` believes nothing it
has not checked: a namespace must exist, a pid must be alive and its command
line must name the lab's own config file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from orchestrator.devkafka.layout import exclusive
from orchestrator.devkafka.processes import terminate
from orchestrator.errors import ConfigurationError
from orchestrator.inventory import Inventory
from orchestrator.lab import daemons, network, render
from orchestrator.lab.layout import LabPaths, LabState, read_state, service_script, write_state
from orchestrator.lab.topology import (
    BRIDGE,
    ZONE,
    LabHost,
    LabOptions,
    NodePlan,
    Topology,
    plan_topology,
)

_STOP_TIMEOUT_S = 5.0
# The lab's names are machine-wide, so one ``up`` or ``down`` at a time on the machine.
MACHINE_LOCK = Path("/run/lock/govmig-lab.lock")


class HostStatus(BaseModel):
    """One host as ``status`` found it."""

    name: str
    role: str
    node: str | None
    ipv4: str
    ipv6: str
    namespace: bool
    pid: int | None
    alive: bool


class LabStatus(BaseModel):
    """The lab as found: every host, and whether all of it is up."""

    lab_dir: str
    inventory: str
    dns: dict[str, str]
    hosts: list[HostStatus]
    platforms: list[dict[str, str]] = []  # each: platform, ipv6_prefix, system_ipv4_pool

    @property
    def up(self) -> bool:
        """Whether there is a lab and every host's namespace and daemon are there."""
        return bool(self.hosts) and all(h.namespace and h.alive for h in self.hosts)

    def document(self) -> dict[str, object]:
        """The lab's interface: ``{"inventory", "dns", "hosts": [...]}``.

        With platforms, also ``"platforms": [...]`` (a lab without has exactly the
        keys it always had); a platform's target hosts are ``target`` hosts whose
        ``node`` is its id.
        """
        hosts = [h.model_dump(include={"name", "role", "node", "ipv4", "ipv6"}) for h in self.hosts]
        document: dict[str, object] = {"inventory": self.inventory, "dns": self.dns}
        document["hosts"] = hosts
        return document | ({"platforms": self.platforms} if self.platforms else {})


@dataclass(frozen=True)
class Lab:
    """The lab in one directory, shaped by ``inventory``'s nodes."""

    paths: LabPaths
    inventory: Inventory

    def up(self, options: LabOptions) -> str:
        """Bring the lab up, or say it already is; refuse if it is up with other options."""
        daemons.check_prerequisites()
        with exclusive(MACHINE_LOCK), exclusive(self.paths.lock):
            state = read_state(self.paths)
            if state is not None:
                return self._already_up(state, options)
            topology = plan_topology(self.inventory, options)
            cleared = _clear_dead_lab()
            state = LabState(options=options)
            write_state(self.paths, state)
            try:
                self._build(topology, state)
            except ConfigurationError as error:
                raise ConfigurationError(
                    f"{error} (the lab is half up: `govmig lab down` removes it)"
                ) from error
        note = f" (removed a dead lab's {', '.join(cleared)})" if cleared else ""
        return f"lab up in {self.paths.root}: inventory {self.paths.inventory}{note}"

    def _already_up(self, state: LabState, options: LabOptions) -> str:
        if state.options != options:
            raise ConfigurationError(
                f"a lab with other options ({_describe(state.options)}) is up in "
                f"{self.paths.root}: run `govmig lab down` first"
            )
        if not self._status(state).up:
            raise ConfigurationError(
                f"the lab in {self.paths.root} is recorded but not all of it runs: "
                "see `govmig lab status`, then run `govmig lab down` first"
            )
        return f"lab already up in {self.paths.root}: nothing changed"

    def _build(self, topology: Topology, state: LabState) -> None:
        options = topology.options
        daemons.make_keys(topology, self.paths)
        if options.hardened_login:
            daemons.make_login_user(
                options.login_user, self.paths, sudo_password=options.sudo_password
            )
        network.create_bridge(topology)
        for host in topology.hosts:
            network.create_host(host, topology.ipv4_networks, walled=topology.walled_off(host))
        state.pids["dns"] = daemons.start_named(topology, self.paths)
        write_state(self.paths, state)
        for host in topology.hosts[1:]:
            state.pids[host.name] = daemons.start_sshd(host, topology, self.paths)
            write_state(self.paths, state)
        for host in topology.hosts:
            port = 53 if host.role == "dns" else options.ssh_port
            daemons.wait_listening(str(host.ipv4), port, state.pids[host.name])
        self.paths.inventory.write_text(render.inventory(topology, self.paths), encoding="utf-8")

    def down(self) -> str:
        """Stop what the lab started, remove its network and its directory."""
        daemons.check_prerequisites()
        if not self.paths.state.exists():
            # A refused ``up`` leaves only its lock behind.
            self.paths.lock.unlink(missing_ok=True)
            if self.paths.root.exists() and any(self.paths.root.iterdir()):
                raise ConfigurationError(
                    f"{self.paths.root} holds no lab record: not removing a directory "
                    "the lab did not make"
                )
            if self.paths.root.exists():
                self.paths.root.rmdir()
            return f"no lab in {self.paths.root}: nothing to do"
        with exclusive(MACHINE_LOCK), exclusive(self.paths.lock):
            state = read_state(self.paths)
            assert state is not None  # checked above, under the same lock's protection
            topology = plan_topology(self.inventory, state.options)
            strays = self._stop(state, topology)
            for host in topology.hosts:
                network.delete_host(host)
            network.delete_bridge()
            shutil.rmtree(self.paths.root)
        extra = f" and {strays} process(es) started inside it" if strays else ""
        return f"lab in {self.paths.root} is down: its daemons{extra} stopped, its network removed"

    def _stop(self, state: LabState, topology: Topology) -> int:
        """Stop the recorded pids that are still ours, then anything else inside the lab."""
        for system, seeded in state.systems.items():
            if seeded.pid is not None and daemons.is_ours(seeded.pid, service_script(system)):
                terminate(seeded.pid, timeout_s=_STOP_TIMEOUT_S)
        for host in topology.hosts:
            pid = state.pids.get(host.name)
            if pid is not None and daemons.is_ours(pid, self._marker(host)):
                terminate(pid, timeout_s=_STOP_TIMEOUT_S)
        # Whatever still runs in a lab namespace was started through the lab (an ssh
        # session, a migrated service): it would keep the namespace alive.
        strays = [pid for h in topology.hosts for pid in network.pids_in(h.netns)]
        for pid in strays:
            terminate(pid, timeout_s=_STOP_TIMEOUT_S)
        return len(strays)

    def _marker(self, host: LabHost) -> str:
        if host.role == "dns":
            return str(self.paths.named_conf)
        return str(self.paths.sshd_config(host.name))

    def host_root(self, host: str) -> Path:
        """``host``'s files as its own processes see them: its private disk, its ``/etc``."""
        state = read_state(self.paths)
        pid = None if state is None else state.pids.get(host)
        if pid is None:
            raise ConfigurationError(f"no lab host {host} is up in {self.paths.root}")
        return Path(f"/proc/{pid}/root")

    def logins(self) -> dict[str, list[str]]:
        """The logins each host's sshd has accepted so far, by host, one log line each
        (``Accepted publickey for USER from ADDRESS port ...``)."""
        state = read_state(self.paths)
        found: dict[str, list[str]] = {}
        for host in state.pids if state is not None else ():
            log = self.paths.host_dir(host) / "sshd.log"
            if log.exists():  # the DNS host runs named, no sshd
                lines = log.read_text(errors="replace").splitlines()
                found[host] = [line for line in lines if line.startswith("Accepted ")]
        return found

    def status(self) -> LabStatus:
        """Every host's namespace and daemon, as found now."""
        daemons.check_prerequisites()
        state = read_state(self.paths)
        if state is None:
            raise ConfigurationError(f"no lab is up in {self.paths.root}: run `govmig lab up`")
        return self._status(state)

    def _status(self, state: LabState) -> LabStatus:
        topology = plan_topology(self.inventory, state.options)
        dns = topology.dns
        return LabStatus(
            lab_dir=str(self.paths.root),
            inventory=str(self.paths.inventory),
            dns={"ipv4": str(dns.ipv4), "ipv6": str(dns.ipv6), "zone": ZONE},
            hosts=[self._host_status(host, state.pids.get(host.name)) for host in topology.hosts],
            platforms=[_platform_status(plan) for plan in topology.platforms],
        )

    def _host_status(self, host: LabHost, pid: int | None) -> HostStatus:
        return HostStatus(
            name=host.name,
            role=host.role,
            node=host.node,
            ipv4=str(host.ipv4),
            ipv6=str(host.ipv6),
            namespace=network.netns_exists(host.netns),
            pid=pid,
            alive=pid is not None and daemons.is_ours(pid, self._marker(host)),
        )


def _platform_status(plan: NodePlan) -> dict[str, str]:
    """What a platform's connect event needs of the lab: its id and IPv6 prefix."""
    return {
        "platform": plan.node,
        "ipv6_prefix": str(plan.prefix),
        "system_ipv4_pool": str(plan.system_ipv4_pool),
    }


def _clear_dead_lab() -> list[str]:
    """Remove a lab's network that nothing runs in any more; refuse one that still runs.

    The names are fixed, so a lab whose processes died with a killed run or a
    restored machine, while the kernel kept its namespaces, would block every
    later ``up``. With no process inside, removing them loses nothing.
    """
    namespaces = network.lab_namespaces()
    busy = [netns for netns in namespaces if network.pids_in(netns)]
    if busy:
        raise ConfigurationError(
            f"another lab runs on this machine (processes in {', '.join(busy)}): "
            "run `govmig lab down --lab-dir` on its directory first"
        )
    cleared = namespaces + ([BRIDGE] if network.link_exists(BRIDGE) else [])
    for netns in namespaces:
        network.delete_netns(netns)
    network.delete_bridge()
    return cleared


def _describe(options: LabOptions) -> str:
    return (
        f"nodes {','.join(options.nodes)}, {options.per_node} per node, "
        f"{options.sources} sources, {options.disk_mb} MB disks"
        + (", an execution host per node" if options.execution_hosts else "")
        + (f", platforms {','.join(options.platforms)}" if options.platforms else "")
        + (f", login user {options.login_user}" if options.hardened_login else "")
        + (" (sudo asks its password)" if options.sudo_password else "")
        + (", a bastion" if options.bastion else "")
        + (f", sshd on port {options.ssh_port}" if options.ssh_port != 22 else "")
    )
