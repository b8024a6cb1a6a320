"""Hardened hosts: the ``ssh`` provider logs in as a user that is not root and becomes root
with sudo, on a lab whose sshd refuses root (``govmig lab up --login-user``).

One lab (one node with one target host, one source host), two seeded systems,
through the real ``PhaseRunner``: one migrated through every forward phase, one
cut over and then rolled back, so every delegated step on the source (its
checks, the pushes with the forwarded agent, the quiesce, the restart) runs as
the login user become root, and so does the target's end of each rsync. Needs
root and the lab's packages (sudo among them): without them ``lab up`` fails,
and so do these tests.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import NodeTarget, RunResult, SystemTarget
from orchestrator.execution.runner import PhaseRunner
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import SourceLocation
from orchestrator.lab import Lab, LabOptions, LabPaths, seed
from orchestrator.lab.layout import host_home, read_state
from orchestrator.lab.topology import BRIDGE_IPV4, DNS_IPV4, ZONE
from orchestrator.migrations.states import FORWARD_PHASES, Phase
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import load_ssh_hosts
from tests.fixtures.targets import system_target

pytestmark = [pytest.mark.lab, pytest.mark.ansible]

INVENTORY = load_inventory()
NODE = NodeTarget(node_id="shantou", ipv6_prefix=str(INVENTORY.nodes["shantou"].ipv6_prefix))
USER = "govmig-ops"
MIGRATED, ROLLED_BACK = "st-hardened", "st-hardened-back"


@dataclass
class Hardened:
    """The lab, its provider, and every run's result by system and phase."""

    lab: Lab
    provider: SshProvider
    sources: dict[str, dict[str, Any]]
    results: dict[tuple[str, Phase], RunResult] = field(default_factory=dict)

    def target(self, sid: str) -> SystemTarget:
        host = self.sources[sid]["source"]["host"]
        source = SourceLocation(city="shantou", site="lab", host=host)
        return system_target(sid, sorted(self.sources).index(sid) + 1, source=source)

    def host_root(self, host: str) -> Path:
        """A lab host's files as its own processes see them (its private disk, its /etc)."""
        state = read_state(self.lab.paths)
        assert state is not None
        return Path(f"/proc/{state.pids[host]}/root")


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardened]:
    base = tmp_path_factory.mktemp("become")
    lab = Lab(LabPaths.under(base / "lab"), INVENTORY)
    lab.up(LabOptions(nodes=("shantou",), sources=1, disk_mb=8, login_user=USER))
    try:
        seeded = seed(lab, [MIGRATED, ROLLED_BACK], size=64 * 1024)
        provider = SshProvider(hosts=load_ssh_hosts(lab.paths.inventory))
        done = Hardened(lab, provider, {item["system_id"]: item for item in seeded})
        runner = PhaseRunner(
            playbook_dir=PLAYBOOK_DIR, artifacts_dir=base / "artifacts", provider=provider
        )
        phases = {MIGRATED: FORWARD_PHASES, ROLLED_BACK: (*FORWARD_PHASES[:4], Phase.ROLLBACK)}
        for step in range(len(FORWARD_PHASES)):
            for sid, its_phases in phases.items():
                phase = its_phases[step]
                result = runner.run(phase, [(NODE, [done.target(sid)])], secrets=provider.secrets())
                done.results[(sid, phase)] = result
        yield done
    finally:
        lab.down()


def resolve(name: str, rdtype: str) -> list[str]:
    query = dns.message.make_query(f"{name}.{ZONE}", rdtype)
    response = dns.query.tcp(query, str(DNS_IPV4), timeout=3)
    return sorted(item.to_text() for rrset in response.answer for item in rrset)


def health_by_name(sid: str) -> dict[str, Any]:
    (address,) = resolve(sid, "AAAA")
    request = urllib.request.Request(f"http://[{address}]:8080/health")
    request.add_header("Host", f"{sid}.{ZONE}:8080")
    with urllib.request.urlopen(request, timeout=5) as reply:
        answer: dict[str, Any] = json.load(reply)
    return answer


def test_the_inventory_logs_in_as_the_user_and_becomes_root(hardened: Hardened) -> None:
    assert hardened.provider.hosts.ssh.user == USER
    assert hardened.provider.hosts.ssh.become == "sudo"


def test_every_phase_succeeds_as_the_login_user_become_root(hardened: Hardened) -> None:
    failed = {key: r.outcomes for key, r in hardened.results.items() if not r.outcome(key[0]).ok}
    assert not failed


def test_the_migrated_system_answers_by_name_from_its_target(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    health = health_by_name(MIGRATED)
    assert (health["system"], health["location"]) == (MIGRATED, target.name)
    provisioned = hardened.results[(MIGRATED, Phase.PROVISION)].outcome(MIGRATED).report
    # sudo kept the login's environment: provision read where the connection came from.
    assert provisioned["controlled_from"] == str(BRIDGE_IPV4)


def test_the_rolled_back_system_is_served_by_its_source_again(hardened: Hardened) -> None:
    source = hardened.sources[ROLLED_BACK]["source"]
    assert resolve(ROLLED_BACK, "AAAA") == [source["ipv6"]]
    health = health_by_name(ROLLED_BACK)
    assert (health["system"], health["location"]) == (ROLLED_BACK, source["host"])
    target = hardened.provider.target(hardened.target(ROLLED_BACK), NODE)
    assert not (hardened.host_root(target.name) / host_home(ROLLED_BACK).lstrip("/")).exists()


def test_the_data_was_written_as_root_on_the_target(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    data = hardened.host_root(target.name) / host_home(MIGRATED).lstrip("/") / "data"
    files = [path for path in data.rglob("*") if path.is_file()]
    assert files
    assert {path.stat().st_uid for path in files} == {0}


def test_only_the_user_logged_in_and_root_is_refused(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    log = (hardened.lab.paths.host_dir(target.name) / "sshd.log").read_text()
    assert f"Accepted publickey for {USER} " in log
    assert "Accepted publickey for root " not in log
    ssh = hardened.provider.hosts.ssh
    as_root = subprocess.run(
        ["ssh", "-i", str(ssh.private_key_file), "-o", f"UserKnownHostsFile={ssh.known_hosts_file}",
         "-o", "BatchMode=yes", f"root@{target.ipv4}", "true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert as_root.returncode == 255
    assert "Permission denied" in as_root.stderr


def test_the_user_exists_on_the_hosts_only(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    on_host = (hardened.host_root(target.name) / "etc/passwd").read_text()
    assert any(line.startswith(f"{USER}:") for line in on_host.splitlines())
    here = Path("/etc/passwd").read_text()
    assert not any(line.startswith(f"{USER}:") for line in here.splitlines())
