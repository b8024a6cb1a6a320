"""A hardened site: the ``ssh`` provider logs in through a bastion, as a user that is not
root, to sshd on a port other than 22, and becomes root with sudo, which asks the user's
password but for rsync (``govmig lab up --login-user ops --sudo-password --bastion
--ssh-port 2222``): every host's sshd refuses root, and this
machine reaches no host but the bastion (the others have no route back to it), so the
role's health checks, DNS questions and updates go through the bastion too.

One lab (one node with one target host, one source host), four seeded systems,
through the real ``PhaseRunner``: one migrated through every forward phase and
finalized with no retention, one cut over and then rolled back, one migrated
and reverted. So every delegated step on the source (its checks, the pushes
with the forwarded agent, the quiesce, the restart, the removal of its data)
runs as the login user become root, and so does the far end of each rsync,
the reverse pass's included; and every login from here reaches its host
through the bastion, while the source's rsync reaches the target directly.
Three more preflights: one whose hosts inventory gives sudo no password, one that gives
the wrong one (each fails saying so), and one that gives none while sudo asks none (the
lab's sudoers edited to NOPASSWD), which passes. A last system's source service is
stopped, and its preflight says what the bastion answered. Needs
root and the lab's packages (sudo among them): without them ``lab up`` fails,
and so do these tests.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
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
from orchestrator.lab.topology import (
    BASTION,
    BASTION_IPV4,
    BRIDGE_IPV4,
    CONTROL_IPV4,
    CONTROL_IPV6,
    DNS_IPV4,
    LAB_IPV6,
    ZONE,
)
from orchestrator.migrations.states import FORWARD_PHASES, Phase
from orchestrator.providers import SshProvider
from orchestrator.providers.ssh_hosts import load_ssh_hosts
from tests.fixtures.targets import system_target

pytestmark = [pytest.mark.lab, pytest.mark.ansible]

INVENTORY = load_inventory()
NODE = NodeTarget(node_id="shantou", ipv6_prefix=str(INVENTORY.nodes["shantou"].ipv6_prefix))
USER = "govmig-ops"
PORT = 2222
MIGRATED, ROLLED_BACK, REVERTED = "st-hardened", "st-hardened-back", "st-hardened-revert"
# Preflight once more each, after the others: sudo given no password, the wrong one,
# and none while it asks none.
NO_SUDO, WRONG_SUDO, NOPASSWD = "st-hardened-nosudo", "st-hardened-wrong", "st-hardened-nopass"
# And once while sudo asks a password for rsync too.
NO_RSYNC = "st-hardened-norsync"
# Preflight with the others, its source service stopped.
UNSERVED = "st-hardened-down"
PLAN = {
    MIGRATED: (*FORWARD_PHASES, Phase.FINALIZE),
    ROLLED_BACK: (*FORWARD_PHASES[:4], Phase.ROLLBACK),
    REVERTED: (*FORWARD_PHASES, Phase.REVERT),
}


@dataclass
class Hardened:
    """The lab, its provider, and every run's result by system and phase."""

    lab: Lab
    base: Path  # the lab's directory and the runs' artifacts
    provider: SshProvider
    sources: dict[str, dict[str, Any]]
    results: dict[tuple[str, Phase], RunResult] = field(default_factory=dict)

    def preflight(self, sid: str, provider: SshProvider) -> None:
        """Run ``sid``'s preflight alone, with ``provider``."""
        runner = PhaseRunner(
            playbook_dir=PLAYBOOK_DIR, artifacts_dir=self.base / "artifacts", provider=provider
        )
        batch = [(NODE, [self.target(sid)])]
        result = runner.run(Phase.PREFLIGHT, batch, secrets=provider.secrets())
        self.results[(sid, Phase.PREFLIGHT)] = result

    def target(self, sid: str) -> SystemTarget:
        host = self.sources[sid]["source"]["host"]
        source = SourceLocation(city="shantou", site="lab", host=host)
        return system_target(sid, sorted(self.sources).index(sid) + 1, source=source)

    def home(self, host: str, sid: str) -> Path:
        """A system's directory on a host's private disk."""
        return self.lab.host_root(host) / host_home(sid).lstrip("/")


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardened]:
    base = tmp_path_factory.mktemp("become")
    lab = Lab(LabPaths.under(base / "lab"), INVENTORY)
    lab.up(
        LabOptions(
            nodes=("shantou",),
            sources=1,
            disk_mb=8,
            login_user=USER,
            sudo_password=True,
            bastion=True,
            ssh_port=PORT,
        )
    )
    try:
        extra = [NO_SUDO, WRONG_SUDO, NOPASSWD, NO_RSYNC, UNSERVED]
        seeded = seed(lab, [*PLAN, *extra], size=64 * 1024)
        state = read_state(lab.paths)
        assert state is not None
        stopped = state.systems[UNSERVED].pid
        assert stopped is not None
        os.kill(stopped, signal.SIGTERM)
        plan = PLAN | {UNSERVED: (Phase.PREFLIGHT,)}
        provider = SshProvider(hosts=load_ssh_hosts(lab.paths.inventory))
        done = Hardened(lab, base, provider, {item["system_id"]: item for item in seeded})
        no_retention = {"govmig_source_retention_days": 0}
        runner = PhaseRunner(
            playbook_dir=PLAYBOOK_DIR,
            artifacts_dir=base / "artifacts",
            provider=provider,
            host_vars_hooks=[lambda _, s: no_retention if s.system_id == MIGRATED else {}],
        )
        for step in range(len(PLAN[MIGRATED])):
            # The systems at the same phase at this step run in one batch, as the worker's do.
            by_phase: dict[Phase, list[str]] = {}
            for sid, phases in plan.items():
                if step < len(phases):
                    by_phase.setdefault(phases[step], []).append(sid)
            for phase, ids in by_phase.items():
                batch = [(NODE, [done.target(sid) for sid in ids])]
                result = runner.run(phase, batch, secrets=provider.secrets())
                done.results.update({(sid, phase): result for sid in ids})
        wrong = base / "wrong-password"
        wrong.write_text("not-the-password\n")
        for sid, password_file in ((NO_SUDO, None), (WRONG_SUDO, wrong)):
            done.preflight(sid, with_sudo_password(provider, password_file))
        asks = f"{USER} ALL=(root) ALL"
        with sudoers_edited(lab, asks, f"{USER} ALL=(root) NOPASSWD: ALL"):
            done.preflight(NOPASSWD, with_sudo_password(provider, None))
        with sudoers_edited(lab, f"{USER} ALL=(root) NOPASSWD: /usr/bin/rsync", ""):
            done.preflight(NO_RSYNC, provider)
        yield done
    finally:
        lab.down()


def with_sudo_password(provider: SshProvider, password_file: Path | None) -> SshProvider:
    """``provider`` with another ``become_password_file`` in its hosts inventory."""
    hosts = provider.hosts
    ssh = hosts.ssh.model_copy(update={"become_password_file": password_file})
    return SshProvider(hosts=hosts.model_copy(update={"ssh": ssh}))


@contextmanager
def sudoers_edited(lab: Lab, line: str, instead: str) -> Iterator[None]:
    """Every host's sudoers with ``line`` replaced: the file is bind-mounted, so edited in place."""
    sudoers = lab.paths.etc_dir / "sudoers"
    before = sudoers.read_text()
    assert line in before.splitlines()
    sudoers.chmod(0o640)
    try:
        sudoers.write_text(before.replace(line, instead))
        yield
    finally:
        sudoers.write_text(before)
        sudoers.chmod(0o440)


# The test's own questions come from the lab's own address, which the wall lets through.


def resolve(name: str, rdtype: str) -> list[str]:
    query = dns.message.make_query(f"{name}.{ZONE}", rdtype)
    response = dns.query.tcp(query, str(DNS_IPV4), timeout=3, source=str(CONTROL_IPV4))
    return sorted(item.to_text() for rrset in response.answer for item in rrset)


def health_by_name(sid: str) -> dict[str, Any]:
    (address,) = resolve(sid, "AAAA")
    connection = http.client.HTTPConnection(
        address, 8080, timeout=5, source_address=(str(CONTROL_IPV6), 0)
    )
    connection.request("GET", "/health", headers={"Host": f"{sid}.{ZONE}:8080"})
    answer: dict[str, Any] = json.load(connection.getresponse())
    connection.close()
    return answer


def test_the_inventory_logs_in_as_the_user_through_the_bastion_and_becomes_root(
    hardened: Hardened,
) -> None:
    ssh = hardened.provider.hosts.ssh
    assert (ssh.user, ssh.become) == (USER, "sudo")
    assert ssh.jump_host is not None
    assert str(ssh.jump_host.ipv4) == str(BASTION_IPV4)
    assert {host.port for host in hardened.provider.hosts.all_hosts()} == {PORT}


def test_every_phase_succeeds_as_the_login_user_become_root(hardened: Hardened) -> None:
    planned = {key: result for key, result in hardened.results.items() if key[0] in PLAN}
    assert len(planned) == sum(len(phases) for phases in PLAN.values())
    failed = {key: r.outcomes for key, r in planned.items() if not r.outcome(key[0]).ok}
    assert not failed


def test_the_migrated_system_answers_by_name_from_its_target(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    health = health_by_name(MIGRATED)
    assert (health["system"], health["location"]) == (MIGRATED, target.name)
    provisioned = hardened.results[(MIGRATED, Phase.PROVISION)].outcome(MIGRATED).report
    # The login came from the bastion (and sudo kept its environment, where provision read it).
    assert provisioned["controlled_from"] == str(BASTION_IPV4)


@pytest.mark.parametrize("sid", [ROLLED_BACK, REVERTED])
def test_a_system_rolled_back_or_reverted_is_served_by_its_source_again(
    hardened: Hardened, sid: str
) -> None:
    source = hardened.sources[sid]["source"]
    assert resolve(sid, "AAAA") == [source["ipv6"]]
    health = health_by_name(sid)
    assert (health["system"], health["location"]) == (sid, source["host"])
    target = hardened.provider.target(hardened.target(sid), NODE)
    assert not hardened.home(target.name, sid).exists()


def test_the_reverse_pass_pulled_the_data_back(hardened: Hardened) -> None:
    reverted = hardened.results[(REVERTED, Phase.REVERT)].outcome(REVERTED).report
    assert reverted["replication_pass"] == "reverse"


def test_finalize_removed_the_sources_data(hardened: Hardened) -> None:
    finalized = hardened.results[(MIGRATED, Phase.FINALIZE)].outcome(MIGRATED).report
    assert finalized["source_removed"] is True
    source = hardened.sources[MIGRATED]["source"]["host"]
    assert not hardened.home(source, MIGRATED).exists()


def test_the_data_was_written_as_root_on_the_target(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    data = hardened.home(target.name, MIGRATED) / "data"
    files = [path for path in data.rglob("*") if path.is_file()]
    assert files
    assert {path.stat().st_uid for path in files} == {0}


def logins(hardened: Hardened, host: str) -> set[str]:
    """Who logged in to ``host`` and from where, by its sshd's log: ``user from address``."""
    return {" ".join(line.split()[3:6]) for line in hardened.lab.logins()[host]}


def login(hardened: Hardened, user: str, address: str) -> subprocess.CompletedProcess[str]:
    """``ssh user@address true`` from this machine, with the lab's key, directly."""
    ssh = hardened.provider.hosts.ssh
    return subprocess.run(
        ["ssh", "-i", str(ssh.private_key_file), "-o", f"UserKnownHostsFile={ssh.known_hosts_file}",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-p", str(PORT), f"{user}@{address}",
         "true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_user_reached_each_host_through_the_bastion_only(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    source = hardened.sources[MIGRATED]["source"]
    assert logins(hardened, BASTION) == {f"{USER} from {BRIDGE_IPV4}"}
    assert logins(hardened, source["host"]) == {f"{USER} from {BASTION_IPV4}"}
    # The source's rsync logs in to the target directly, over IPv6 (from the source's own
    # address or a seeded system's on the same interface: the kernel chooses).
    direct = logins(hardened, target.name) - {f"{USER} from {BASTION_IPV4}"}
    assert direct
    assert all(ip_address(line.split()[-1]) in LAB_IPV6 for line in direct), direct
    assert f"{USER} from {BASTION_IPV4}" in logins(hardened, target.name)


def test_a_runs_connections_through_the_bastion_share_one_login_to_it(hardened: Hardened) -> None:
    """Its checks and its logins to the hosts are channels of the run's one login to the
    bastion. A run of one system asks one thing at a time, so none races another to make it."""
    source = hardened.sources[REVERTED]["source"]["host"]
    target = hardened.provider.target(hardened.target(REVERTED), NODE).name
    hosts = (BASTION, source, target)
    before = {host: len(hardened.lab.logins()[host]) for host in hosts}
    hardened.preflight(REVERTED, hardened.provider)  # the name, health, reach: checks too
    assert hardened.results[(REVERTED, Phase.PREFLIGHT)].outcome(REVERTED).ok
    made = {host: len(hardened.lab.logins()[host]) - before[host] for host in hosts}
    assert made == {BASTION: 1, source: 1, target: 1}


def test_a_batchs_connections_through_the_bastion_share_one_login_made_before_they_start(
    hardened: Hardened,
) -> None:
    """Systems of one batch ask at once: their checks would each make the login were it
    not made before (a race ssh's ``ControlMaster=auto`` loses to every one of them). (Not
    UNSERVED: its refused check asks again on a login of its own, to say why.)"""
    batch = [(NODE, [hardened.target(sid) for sid in (REVERTED, NOPASSWD, NO_RSYNC)])]
    runner = PhaseRunner(
        playbook_dir=PLAYBOOK_DIR,
        artifacts_dir=hardened.base / "artifacts",
        provider=hardened.provider,
    )
    before = len(hardened.lab.logins()[BASTION])
    result = runner.run(Phase.PREFLIGHT, batch, secrets=hardened.provider.secrets())
    assert result.outcome(REVERTED).ok, result.outcome(REVERTED)
    assert len(hardened.lab.logins()[BASTION]) - before == 1


def test_this_machine_reaches_the_bastion_only_and_root_logs_in_nowhere(
    hardened: Hardened,
) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    for user in (USER, "root"):
        unreached = login(hardened, user, str(target.ipv4))
        assert unreached.returncode == 255, user
        assert "timed out" in unreached.stderr
    refused = login(hardened, "root", str(BASTION_IPV4))
    assert refused.returncode == 255
    assert "Permission denied" in refused.stderr
    assert login(hardened, USER, str(BASTION_IPV4)).returncode == 0


def test_the_checks_reached_the_services_and_the_dns_server_through_the_bastion_only(
    hardened: Hardened,
) -> None:
    # Straight from this machine's address, neither answers (the phases above, whose
    # checks and updates asked both, all succeeded)...
    source = hardened.sources[MIGRATED]["source"]
    for address, port in ((str(DNS_IPV4), 53), (source["ipv4"], 8080), (source["ipv6"], 8080)):
        with pytest.raises(OSError, match="timed out"):
            socket.create_connection((address, port), timeout=1).close()
    # ...and a check that fails through the bastion says what the bastion said.
    outcome = hardened.results[(UNSERVED, Phase.PREFLIGHT)].outcome(UNSERVED)
    assert not outcome.ok
    message = str(outcome.message)
    assert (
        f"through the jump host {BASTION_IPV4}: channel 0: open failed: connect failed:" in message
    )
    assert "Connection refused" in message


def test_the_user_exists_on_the_hosts_only(hardened: Hardened) -> None:
    target = hardened.provider.target(hardened.target(MIGRATED), NODE)
    on_host = (hardened.lab.host_root(target.name) / "etc/passwd").read_text()
    assert any(line.startswith(f"{USER}:") for line in on_host.splitlines())
    here = Path("/etc/passwd").read_text()
    assert not any(line.startswith(f"{USER}:") for line in here.splitlines())


@pytest.mark.parametrize(
    ("sid", "said"),
    [(NO_SUDO, "sudo password is required"), (WRONG_SUDO, "sudo password is incorrect")],
)
def test_sudo_without_its_password_fails_preflight_saying_so(
    hardened: Hardened, sid: str, said: str
) -> None:
    outcome = hardened.results[(sid, Phase.PREFLIGHT)].outcome(sid)
    assert not outcome.ok
    assert said in str(outcome.message)
    source = hardened.sources[sid]["source"]
    assert health_by_name(sid)["location"] == source["host"]  # untouched, still serving


def test_sudo_that_asks_no_password_needs_none(hardened: Hardened) -> None:
    assert hardened.results[(NOPASSWD, Phase.PREFLIGHT)].outcome(NOPASSWD).ok


def test_preflight_names_a_sudo_that_asks_a_password_for_rsync(hardened: Hardened) -> None:
    # Each copy's far end, on the target, runs `sudo -n rsync`: found before any copy.
    outcome = hardened.results[(NO_RSYNC, Phase.PREFLIGHT)].outcome(NO_RSYNC)
    assert not outcome.ok
    target = hardened.provider.target(hardened.target(NO_RSYNC), NODE)
    assert (
        f"on target host {target.name}, sudo asks {USER} a password for rsync, which each copy"
        " runs there as sudo -n rsync: give it NOPASSWD"
    ) in str(outcome.message)


def test_the_sudo_password_is_in_no_log_and_no_artifact(hardened: Hardened) -> None:
    password_file = hardened.lab.paths.sudo_password
    password = password_file.read_text().strip().encode()
    assert len(password) >= 16
    files = [path for path in hardened.base.rglob("*") if path.is_file() and path != password_file]
    assert any(path.suffix == ".json" for path in files)  # the runs' events are among them
    assert [path for path in files if password in path.read_bytes()] == []
