"""``govmig run --provider ssh`` on the lab, killed with SIGKILL during a cutover and restarted.

The real process, real Kafka, the real phase worker and the ssh provider's
role against the lab's sshd hosts and BIND. After the restart every system
completes, its target's journal holds exactly one cutover, the store counts
it as IPv6 (verify reached it by name over IPv6), and its name answers the
system's own addresses on the host the store says it runs on.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.models import BusinessSystem
from orchestrator.lab import Lab, LabOptions, LabPaths, seed_systems
from orchestrator.lab.layout import read_state
from orchestrator.lab.topology import ZONE
from tests.fixtures.orchestrator import (
    INVENTORY,
    count_sqlite,
    govmig_run,
    kafka_settings,
    register_and_request,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.kafka, pytest.mark.ansible]

NODES = ("shantou", "heyuan")
CUTOVER = "SELECT count(*) FROM systems WHERE state = 'cutover'"
COMPLETED = "SELECT count(*) FROM systems WHERE state = 'completed'"
DNS_SERVER = "10.213.0.53"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Two nodes with one target host each, two source hosts; down at the end."""
    found = Lab(LabPaths.under(tmp_path / "lab"), INVENTORY)
    try:
        found.up(LabOptions(nodes=NODES, per_node=1, sources=2))
        yield found
    finally:
        found.down()


def seeded(lab: Lab, count: int) -> list[BusinessSystem]:
    """``count`` catalogue systems, each registered on the lab source host it was seeded on."""
    return seed_systems(lab, [s for s in generate_catalogue(80) if not s.depends_on][:count])


def rows(db: Path) -> dict[str, tuple[str, str | None, str | None]]:
    """Each system's state, target host and recorded IPv6 address."""
    with sqlite3.connect(db) as connection:
        found = connection.execute("SELECT id, state, target_host, ipv6_address FROM systems")
        return {sid: (state, host, address) for sid, state, host, address in found}


def resolve(name: str, rdtype: str) -> list[str]:
    query = dns.message.make_query(f"{name}.{ZONE}", rdtype)
    response = dns.query.tcp(query, DNS_SERVER, timeout=3)
    return sorted(item.to_text() for rrset in response.answer for item in rrset)


def journal_on(lab: Lab, host: str, system_id: str) -> list[str]:
    """The cutover journal on ``host``'s private disk (seen through its sshd's mount namespace)."""
    state = read_state(lab.paths)
    assert state is not None
    path = Path(f"/proc/{state.pids[host]}/root/srv/govmig/{system_id}/journal.log")
    return path.read_text().splitlines()


def test_sigkill_during_a_cutover_on_real_hosts_then_restart_cuts_each_system_over_once(
    lab: Lab, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    systems = seeded(lab, 4)
    ids = [s.id for s in systems]
    register_and_request(settings, systems[:2], target="shantou")
    register_and_request(settings, systems[2:], target="heyuan")
    db = tmp_path / "govmig.db"
    options = (
        "--worker",
        "--provider", "ssh",
        "--hosts", str(lab.paths.root / "hosts.yml"),
        "--artifacts-dir", str(tmp_path / "artifacts"),
        "--instance-id", "lab-killed",
        "--session-timeout", "6",
    )  # fmt: skip
    with govmig_run(settings, f"sqlite:///{db}", tmp_path, *options, name="killed") as run:
        wait_until(lambda: count_sqlite(db, CUTOVER) > 0, timeout_s=180, what="a cutover")
        run.signal(signal.SIGKILL)
        run.wait(10)
    assert count_sqlite(db, COMPLETED) < len(systems)
    with govmig_run(settings, f"sqlite:///{db}", tmp_path, *options, name="restarted") as run:
        wait_until(
            lambda: count_sqlite(db, COMPLETED) == len(systems),
            timeout_s=240,
            what=lambda: f"every system completed: {rows(db)}\n{run.output()}",
        )
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    found = rows(db)
    for system_id in ids:
        state, host, address = found[system_id]
        assert (state, host is not None, address is not None) == ("completed", True, True)
        assert host is not None
        (line,) = journal_on(lab, host, system_id)
        assert line.startswith(f"cutover {system_id} ")
        assert resolve(system_id, "AAAA") == [address]
