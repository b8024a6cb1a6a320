"""``govmig lab seed``: a business system's source, as a migration will find it. I/O.

For each system: a source host (stable, by a hash of its id), two addresses of
its own on that host, its data under ``/srv/govmig/<id>/data`` on the host's
private disk, the sample service listening on its addresses at port 8080, and
A and AAAA records for ``<id>.<zone>``. Seeding a system again replaces its
data and restarts its service on the same addresses.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.devkafka.layout import exclusive
from orchestrator.devkafka.processes import spawn_detached, terminate
from orchestrator.errors import ConfigurationError
from orchestrator.inventory.models import SYSTEM_ID_PATTERN, BusinessSystem
from orchestrator.lab import daemons, names, network
from orchestrator.lab.layout import (
    LabPaths,
    LabState,
    SeededSystem,
    host_home,
    read_state,
    service_script,
    write_state,
)
from orchestrator.lab.lifecycle import Lab
from orchestrator.lab.topology import (
    DNS_IPV4,
    ZONE,
    LabHost,
    Topology,
    plan_topology,
    seeded_addresses,
    source_for,
)

SERVICE_PORT = 8080
HOST_PYTHON = "/usr/bin/python3"
DEFAULT_SIZE = 64 * 1024
_FILE_BYTES = 16 * 1024
_MAX_FILES = 64


def data_files(system_id: str, size: int) -> Iterator[tuple[str, bytes]]:
    """Deterministic pseudo-random files totalling ``size`` bytes. Pure."""
    count = max(1, min(_MAX_FILES, size // _FILE_BYTES))
    for index in range(count):
        length = size // count + (1 if index < size % count else 0)
        seed = f"{system_id}/{index}".encode()
        yield f"part-{index:04d}.bin", hashlib.shake_256(seed).digest(length)


def seed(lab: Lab, system_ids: list[str], *, size: int = DEFAULT_SIZE) -> list[dict[str, Any]]:
    """Seed every system in ``system_ids`` on the lab's source hosts; one result each."""
    for system_id in system_ids:
        if not re.fullmatch(SYSTEM_ID_PATTERN, system_id):
            raise ConfigurationError(f"{system_id!r} is not a system id (a DNS label)")
    if size < 0:
        raise ConfigurationError("--size must be 0 or more bytes")
    status = lab.status()
    if not status.up:
        raise ConfigurationError(f"the lab in {lab.paths.root} is not fully up: see its status")
    with exclusive(lab.paths.lock):
        state = read_state(lab.paths)
        assert state is not None  # status() found it
        topology = plan_topology(lab.inventory, state.options)
        return [_seed_one(lab.paths, state, topology, system_id, size) for system_id in system_ids]


def seed_systems(
    lab: Lab, systems: Sequence[BusinessSystem], *, size: int = DEFAULT_SIZE
) -> list[BusinessSystem]:
    """Seed ``systems`` and return their records as registered on the hosts they run on."""
    seeded = seed(lab, [system.id for system in systems], size=size)
    hosts = {entry["system_id"]: entry["source"]["host"] for entry in seeded}
    return [
        s.model_copy(update={"source": s.source.model_copy(update={"host": hosts[s.id]})})
        for s in systems
    ]


def _seed_one(
    paths: LabPaths, state: LabState, topology: Topology, system_id: str, size: int
) -> dict[str, Any]:
    earlier = state.systems.get(system_id)
    slot = earlier.slot if earlier else 1 + max((s.slot for s in state.systems.values()), default=0)
    host = source_for(system_id, topology.of_role("source"))
    ipv4, ipv6 = seeded_addresses(slot)
    if (
        earlier
        and earlier.pid is not None
        and daemons.is_ours(earlier.pid, service_script(system_id))
    ):
        terminate(earlier.pid, timeout_s=5.0)
    sshd_pid = state.pids[host.name]
    _write_files(Path(f"/proc/{sshd_pid}/root{host_home(system_id)}"), system_id, size)
    network.add_address(host, ipv4, ipv6)
    pid = _start_service(paths, host, sshd_pid, system_id, [str(ipv4), str(ipv6)])
    state.systems[system_id] = SeededSystem(slot=slot, host=host.name, pid=pid)
    write_state(paths, state)
    daemons.wait_listening(str(ipv4), SERVICE_PORT, pid)
    names.replace_addresses(DNS_IPV4, paths.tsig_key, system_id, ipv4, ipv6)
    return {
        "system_id": system_id,
        "source": {"host": host.name, "ipv4": str(ipv4), "ipv6": str(ipv6)},
        "name": f"{system_id}.{ZONE}",
    }


def _write_files(home: Path, system_id: str, size: int) -> None:
    """The system's data and service on the host's private disk, seen through /proc/PID/root."""
    data = home / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    for name, content in data_files(system_id, size):
        (data / name).write_bytes(content)
    shutil.copyfile(PLAYBOOK_DIR / "files" / "service.py", home / "service.py")


def _start_service(
    paths: LabPaths, host: LabHost, sshd_pid: int, system_id: str, addresses: list[str]
) -> int:
    home = host_home(system_id)
    argv = [HOST_PYTHON, service_script(system_id), "--dir", home, "--system", system_id]
    argv += ["--location", host.name, "--port", str(SERVICE_PORT)]
    for address in addresses:
        argv += ["--bind", address]
    paths.logs.mkdir(parents=True, exist_ok=True)
    return spawn_detached(daemons.host_argv(sshd_pid, argv), paths.logs / f"{system_id}.log")
