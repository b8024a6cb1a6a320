"""The ssh provider's host inventory: a valid file loads, a bad one names file and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import InventoryError
from orchestrator.providers.ssh_hosts import dump_ssh_hosts, load_ssh_hosts, parse_ssh_hosts

VALID: dict[str, Any] = {
    "ssh": {"user": "root", "private_key_file": "/k/id", "known_hosts_file": "/k/known_hosts"},
    "dns": {
        "server_ipv4": "10.213.0.53",
        "server_ipv6": "2001:db8:1000::53",
        "zone": "lab.govmig.test",
        "tsig_key_file": "/k/tsig.key",
        "tsig_key_name": "govmig-lab",
        "tsig_algorithm": "hmac-sha256",
    },
    "nodes": {
        "shantou": {
            "system_ipv4_pool": "10.213.32.0/20",
            "hosts": [{"name": "shantou-1", "ipv4": "10.213.2.1", "ipv6": "2001:db8:1:ffff::1"}],
        }
    },
    "sources": [{"name": "src-1", "ipv4": "10.213.1.1", "ipv6": "2001:db8:1000:1::1"}],
}


def _with(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def test_a_valid_inventory_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(VALID))
    hosts = load_ssh_hosts(path)
    assert [h.name for h in hosts.all_hosts()] == ["src-1", "shantou-1"]
    assert parse_ssh_hosts(yaml.safe_load(dump_ssh_hosts(hosts)), source="again") == hosts


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("dns", "server_ipv4"), "not-an-address", "field 'dns.server_ipv4'"),
        (("dns", "tsig_algorithm"), "hmac-md5", "field 'dns.tsig_algorithm'"),
        (("dns", "zone"), "Bad Zone", "field 'dns.zone'"),
        (("ssh", "user"), "root; rm -rf /", "field 'ssh.user'"),
        (("sources", 0, "name"), "../etc", "field 'sources[0].name'"),
        (("nodes", "shantou", "hosts"), [], "field 'nodes.shantou.hosts'"),
        (("nodes", "shantou", "system_ipv4_pool"), "10.213.32.1/20", "system_ipv4_pool"),
        (("sources", 0, "user"), "root", "unknown field"),
        (("sources", 0, "port"), 0, "field 'sources[0].port'"),
        (("ssh", "host_code_cache"), "sometimes", "field 'ssh.host_code_cache'"),
        (("nodes", "shantou", "hosts", 0, "port"), 65_536, "field 'nodes.shantou.hosts[0].port'"),
        (("nodes", "shantou", "replication_limit_mbps"), 0, "replication_limit_mbps"),
        (("nodes", "shantou", "replication_limit_mbps"), "fast", "replication_limit_mbps"),
    ],
    ids=[
        "ipv4",
        "algorithm",
        "zone",
        "user",
        "name",
        "no-hosts",
        "pool",
        "extra",
        "port-0",
        "host-code-cache",
        "port-too-big",
        "limit-0",
        "limit-word",
    ],
)
def test_a_bad_field_is_named_with_the_file(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    with pytest.raises(InventoryError, match=r"^lab/hosts\.yml: ") as error:
        parse_ssh_hosts(_with(path, value), source="lab/hosts.yml")
    assert message in str(error.value)


def test_a_user_other_than_root_must_become_root() -> None:
    with pytest.raises(InventoryError, match="user 'ops' is not root: set become: sudo"):
        parse_ssh_hosts(_with(("ssh", "user"), "ops"), source="hosts.yml")
    document = _with(("ssh", "user"), "ops")
    document["ssh"]["become"] = "sudo"
    hosts = parse_ssh_hosts(document, source="hosts.yml")
    assert (hosts.ssh.user, hosts.ssh.become) == ("ops", "sudo")
    assert parse_ssh_hosts(yaml.safe_load(dump_ssh_hosts(hosts)), source="again") == hosts
    with pytest.raises(InventoryError, match=r"field 'ssh\.become'"):
        parse_ssh_hosts(_with(("ssh", "become"), "su"), source="hosts.yml")


def test_a_sudo_password_file_needs_become() -> None:
    document = _with(("ssh", "become_password_file"), "/etc/govmig/sudo-password")
    with pytest.raises(InventoryError, match="become_password_file is sudo's password: set become"):
        parse_ssh_hosts(document, source="hosts.yml")
    document["ssh"] |= {"user": "ops", "become": "sudo"}
    hosts = parse_ssh_hosts(document, source="hosts.yml")
    assert str(hosts.ssh.become_password_file) == "/etc/govmig/sudo-password"
    assert parse_ssh_hosts(yaml.safe_load(dump_ssh_hosts(hosts)), source="again") == hosts


def test_a_missing_section_is_named() -> None:
    document = copy.deepcopy(VALID)
    del document["dns"]
    with pytest.raises(InventoryError, match="field 'dns': is required"):
        parse_ssh_hosts(document, source="hosts.yml")


def test_a_host_named_twice_is_refused() -> None:
    twice = _with(("sources", 0, "name"), "shantou-1")
    with pytest.raises(InventoryError, match="host 'shantou-1' appears twice"):
        parse_ssh_hosts(twice, source="hosts.yml")


def test_an_unreadable_or_broken_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"missing\.yml: cannot read it"):
        load_ssh_hosts(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("ssh: [unclosed")
    with pytest.raises(InventoryError, match=r"broken\.yml: not valid YAML"):
        load_ssh_hosts(broken)


def test_an_execution_host_may_not_share_a_name_with_another_host() -> None:
    exec_host = {"name": "src-1", "ipv4": "10.213.2.251", "ipv6": "2001:db8:1:ffff::fb"}
    document = _with(("nodes", "shantou", "execution_host"), exec_host)
    with pytest.raises(InventoryError, match="host 'src-1' appears twice"):
        parse_ssh_hosts(document, source="hosts.yml")


BASTION = {"name": "bastion", "ipv4": "10.213.0.22", "ipv6": "2001:db8:1000::22"}


def test_a_jump_host_is_a_host_like_the_others() -> None:
    hosts = parse_ssh_hosts(_with(("ssh", "jump_host"), BASTION), source="hosts.yml")
    assert [h.name for h in hosts.all_hosts()] == ["src-1", "shantou-1", "bastion"]
    assert parse_ssh_hosts(yaml.safe_load(dump_ssh_hosts(hosts)), source="again") == hosts
    twice = _with(("ssh", "jump_host"), {**BASTION, "name": "src-1"})
    with pytest.raises(InventoryError, match="host 'src-1' appears twice"):
        parse_ssh_hosts(twice, source="hosts.yml")


def test_a_jump_host_and_an_execution_host_go_together() -> None:
    exec_host = {"name": "exec-1", "ipv4": "10.213.2.251", "ipv6": "2001:db8:1:ffff::fb"}
    document = _with(("nodes", "shantou", "execution_host"), exec_host)
    document["ssh"]["jump_host"] = BASTION
    hosts = parse_ssh_hosts(document, source="hosts.yml")
    assert [h.name for h in hosts.all_hosts()] == ["src-1", "shantou-1", "exec-1", "bastion"]
