"""The lab's pure core: hosts and their addresses, rendered configs, seeded data."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import ConfigurationError
from orchestrator.inventory import load_inventory
from orchestrator.lab import render
from orchestrator.lab.layout import LabPaths
from orchestrator.lab.seeding import data_files
from orchestrator.lab.topology import (
    LAB_IPV4,
    LAB_IPV6,
    PLATFORM_IPV4,
    LabOptions,
    Topology,
    choose_nodes,
    choose_platforms,
    control_source,
    plan_topology,
    platform_prefix,
    seeded_addresses,
    source_for,
)
from orchestrator.providers.ssh_hosts import parse_ssh_hosts, tsig_secret
from orchestrator.worker.targets import ipv6_address

INVENTORY = load_inventory()
PATHS = LabPaths(Path("/var/lab"))
ALL = plan_topology(INVENTORY, LabOptions(nodes=choose_nodes(INVENTORY, []), per_node=2))
SMALL = plan_topology(
    INVENTORY, LabOptions(nodes=choose_nodes(INVENTORY, ["heyuan", "shantou"]), sources=2)
)


def test_every_node_by_default_with_its_pool_of_targets() -> None:
    targets = ALL.of_role("target")
    assert len(targets) == 14 * 2
    assert {host.node for host in targets} == set(INVENTORY.nodes)
    assert [host.name for host in ALL.of_role("source")] == ["src-1", "src-2", "src-3"]


def test_chosen_nodes_keep_inventory_order_and_their_addresses() -> None:
    assert [plan.node for plan in SMALL.nodes] == ["shantou", "heyuan"]
    for host in SMALL.of_role("target"):
        assert host.ipv4 == ALL.host(f"{host.node}-1").ipv4


def test_unknown_node_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="unknown node 'atlantis'"):
        choose_nodes(INVENTORY, ["atlantis"])


def test_a_target_lives_inside_its_nodes_prefix_and_the_pools_too() -> None:
    for host in ALL.of_role("target"):
        assert host.node is not None
        prefix = IPv6Network(str(INVENTORY.nodes[host.node].ipv6_prefix))
        assert host.ipv6 in prefix
    for plan in ALL.nodes:
        assert plan.system_ipv4_pool.subnet_of(LAB_IPV4)


def test_no_target_host_takes_an_address_a_migrated_system_gets() -> None:
    for host in ALL.of_role("target"):
        prefix = str(INVENTORY.nodes[str(host.node)].ipv6_prefix)
        systems = {IPv6Address(ipv6_address(prefix, index)) for index in (1, 2, 0xFFFF)}
        assert host.ipv6 not in systems
        assert host.ipv6 not in IPv6Network(ipv6_address(prefix, 1)).supernet(new_prefix=64)


def test_addresses_are_unique_and_in_the_lab_ranges() -> None:
    hosts = ALL.hosts
    assert len({h.ipv4 for h in hosts}) == len({h.ipv6 for h in hosts}) == len(hosts)
    assert all(h.ipv4 in LAB_IPV4 for h in hosts)
    assert all(h.ipv6 in LAB_IPV6 for h in hosts if h.role != "target")
    pools = [plan.system_ipv4_pool for plan in ALL.nodes]
    assert not any(a.overlaps(b) for i, a in enumerate(pools) for b in pools[i + 1 :])
    assert all(h.ipv4 not in pool for h in hosts for pool in pools)


def test_interface_names_fit_the_kernels_limit() -> None:
    assert all(len(host.veth) <= 15 for host in ALL.hosts)


def test_a_system_always_lands_on_the_same_source() -> None:
    sources = SMALL.of_role("source")
    assert source_for("shantou-psb-001", sources) == source_for("shantou-psb-001", sources)
    picks = {source_for(f"sys-{i}", sources).name for i in range(20)}
    assert picks == {"src-1", "src-2"}


def test_seeded_addresses_are_distinct_and_bounded() -> None:
    assert seeded_addresses(1) != seeded_addresses(2)
    with pytest.raises(ConfigurationError):
        seeded_addresses(0)


@pytest.mark.parametrize("size", [0, 1, 16_384, 65_536, 1_000_003], ids=str)
def test_seeded_data_totals_the_size_and_is_deterministic(size: int) -> None:
    files = list(data_files("a-system", size))
    assert sum(len(content) for _, content in files) == size
    assert files == list(data_files("a-system", size))
    assert files != list(data_files("b-system", size)) or size == 0


def test_sshd_config_is_key_only_root_on_the_hosts_addresses() -> None:
    host = SMALL.host("src-1")
    lines = render.sshd_config(host, SMALL, PATHS).splitlines()
    assert f"ListenAddress {host.ipv4}:22" in lines
    assert f"ListenAddress [{host.ipv6}]:22" in lines
    for line in (
        "PasswordAuthentication no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        "Subsystem sftp internal-sftp",
        "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org",
        "AuthorizedKeysFile /var/lab/ssh/authorized_keys",
        "PidFile /var/lab/hosts/src-1/sshd.pid",
    ):
        assert line in lines


def test_a_login_user_other_than_root_makes_hosts_that_refuse_root() -> None:
    hardened = plan_topology(INVENTORY, LabOptions(nodes=("shantou",), login_user="ops"))
    lines = render.sshd_config(hardened.host("src-1"), hardened, PATHS).splitlines()
    for line in (
        "PermitRootLogin no",
        "AllowUsers ops",
        # sshd reads a user's keys as that user: from its home, not the lab's directory.
        "AuthorizedKeysFile /srv/home/ops/.ssh/authorized_keys",
    ):
        assert line in lines
    assert "AllowUsers root" in render.sshd_config(SMALL.host("src-1"), SMALL, PATHS).splitlines()


def test_the_login_user_gets_a_free_id_no_password_and_sudo_to_root_only() -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\nuser:x:2000:2000::/home/user:/bin/sh\n"
    group = "root:x:0:\nstaff:x:2001:\n"
    files = render.login_user_files("ops", passwd, group)
    assert files["passwd"] == passwd + "ops:x:2002:2002::/srv/home/ops:/bin/sh\n"
    assert files["group"] == group + "ops:x:2002:\n"
    assert files["shadow"].splitlines()[-1] == "ops:*:20000:0:99999:7:::"
    assert "ops ALL=(root) NOPASSWD: ALL" in files["sudoers"].splitlines()
    assert "includedir" not in files["sudoers"]  # this machine's sudoers.d stays out


def test_with_a_sudo_password_sudo_asks_it_for_all_but_rsync() -> None:
    passwd, group = "root:x:0:0:root:/root:/bin/bash\n", "root:x:0:\n"
    files = render.login_user_files("ops", passwd, group, "$6$salt$hash")
    assert files["shadow"].splitlines()[-1] == "ops:$6$salt$hash:20000:0:99999:7:::"
    sudo = [line for line in files["sudoers"].splitlines() if line.startswith("ops ")]
    assert sudo == ["ops ALL=(root) ALL", "ops ALL=(root) NOPASSWD: /usr/bin/rsync"]
    options = LabOptions(nodes=("shantou",), sources=1, login_user="ops", sudo_password=True)
    hosts = parse_ssh_hosts(
        yaml.safe_load(render.inventory(plan_topology(INVENTORY, options), PATHS)), source="t"
    )
    assert hosts.ssh.become_password_file == PATHS.sudo_password
    plain = LabOptions(nodes=("shantou",), sources=1, login_user="ops")
    hosts = parse_ssh_hosts(
        yaml.safe_load(render.inventory(plan_topology(INVENTORY, plain), PATHS)), source="t"
    )
    assert hosts.ssh.become_password_file is None
    with pytest.raises(ValueError, match="a sudo password is for a login user other than root"):
        LabOptions(nodes=("shantou",), sudo_password=True)


def test_execution_hosts_take_a_login_user_other_than_root_too() -> None:
    options = LabOptions(nodes=("shantou",), sources=1, execution_hosts=True, login_user="ops")
    hosts = parse_ssh_hosts(
        yaml.safe_load(render.inventory(plan_topology(INVENTORY, options), PATHS)), source="t"
    )
    assert hosts.ssh.user == "ops"
    assert hosts.nodes["shantou"].execution_host is not None


def test_behind_a_bastion_execution_hosts_are_walled_off_too() -> None:
    options = LabOptions(nodes=("shantou",), sources=1, execution_hosts=True, bastion=True)
    lab = plan_topology(INVENTORY, options)
    assert {host.name for host in lab.hosts if lab.walled_off(host)} == {
        "dns",
        "src-1",
        "shantou-1",
        "exec-shantou",
    }
    hosts = parse_ssh_hosts(yaml.safe_load(render.inventory(lab, PATHS)), source="hosts.yml")
    assert hosts.ssh.jump_host is not None
    assert hosts.nodes["shantou"].execution_host is not None


def test_behind_a_bastion_this_machine_reaches_the_bastion_alone() -> None:
    lab = plan_topology(INVENTORY, LabOptions(nodes=("shantou",), sources=1, bastion=True))
    assert SMALL.bastion is None
    assert lab.bastion is not None
    assert (str(lab.bastion.ipv4), str(lab.bastion.ipv6)) == ("10.213.0.22", "2001:db8:1000::22")
    walled = {host.name for host in lab.hosts if lab.walled_off(host)}
    assert walled == {"dns", "src-1", "shantou-1"}
    assert not any(SMALL.walled_off(host) for host in SMALL.hosts)
    hosts = parse_ssh_hosts(yaml.safe_load(render.inventory(lab, PATHS)), source="hosts.yml")
    assert hosts.ssh.jump_host is not None
    assert hosts.ssh.jump_host.name == "bastion"
    assert "bastion" not in {h.name for h in hosts.sources}


def test_the_lab_connects_from_its_own_address_in_each_family() -> None:
    assert control_source("10.213.1.1") == "10.213.0.2"
    assert control_source("2001:db8:1000:1::1") == "2001:db8:1000::2"


def test_named_listens_on_the_dns_host_and_takes_only_signed_updates() -> None:
    text = render.named_conf(SMALL, PATHS)
    assert "listen-on port 53 { 10.213.0.53; };" in text
    assert "listen-on-v6 port 53 { 2001:db8:1000::53; };" in text
    assert 'allow-update { key "govmig-lab"; };' in text
    assert 'include "/var/lab/dns/tsig.key";' in text
    assert "/etc/bind" not in text


def test_the_zone_has_a_and_aaaa_for_every_host() -> None:
    lines = render.zone_file(SMALL).splitlines()
    for host in SMALL.hosts:
        assert f"{host.name} IN A {host.ipv4}" in lines
        assert f"{host.name} IN AAAA {host.ipv6}" in lines
    assert "$TTL 30" in lines


def test_known_hosts_names_each_host_by_name_and_both_addresses() -> None:
    text = render.known_hosts({"src-1": "ssh-ed25519 AAAAkey src-1\n"}, SMALL)
    expected = "src-1,src-1.lab.govmig.test,10.213.1.1,2001:db8:1000:1::1 ssh-ed25519 AAAAkey src-1"
    assert text.splitlines() == [expected]


def test_an_sshd_off_port_22_listens_there_and_is_named_with_its_port() -> None:
    ported = plan_topology(INVENTORY, LabOptions(nodes=("shantou",), sources=1, ssh_port=2222))
    source = ported.host("src-1")
    lines = render.sshd_config(source, ported, PATHS).splitlines()
    assert f"ListenAddress {source.ipv4}:2222" in lines
    assert f"ListenAddress [{source.ipv6}]:2222" in lines
    text = render.known_hosts({"src-1": "ssh-ed25519 AAAAkey src-1\n"}, ported)
    names = "[src-1]:2222,[src-1.lab.govmig.test]:2222,[10.213.1.1]:2222,[2001:db8:1000:1::1]:2222"
    assert text.splitlines() == [f"{names} ssh-ed25519 AAAAkey src-1"]
    hosts = parse_ssh_hosts(yaml.safe_load(render.inventory(ported, PATHS)), source="hosts.yml")
    assert {host.port for host in hosts.all_hosts()} == {2222}


def test_tsig_secret_is_read_from_bind_format() -> None:
    key = 'key "govmig-lab" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0Cg==";\n};\n'
    assert tsig_secret(key) == "c2VjcmV0Cg=="
    with pytest.raises(ConfigurationError):
        tsig_secret("key {};")


def test_the_inventory_reads_back_as_the_ssh_providers_format() -> None:
    text = render.inventory(SMALL, PATHS)
    hosts = parse_ssh_hosts(yaml.safe_load(text), source="hosts.yml")
    assert list(hosts.nodes) == ["shantou", "heyuan"]
    assert [h.name for h in hosts.sources] == ["src-1", "src-2"]
    assert hosts.dns.zone == "lab.govmig.test"
    assert hosts.ssh.known_hosts_file == Path("/var/lab/ssh/known_hosts")
    assert (hosts.ssh.user, hosts.ssh.become) == ("root", None)
    ops = plan_topology(INVENTORY, LabOptions(nodes=("shantou",), login_user="ops"))
    hardened = parse_ssh_hosts(yaml.safe_load(render.inventory(ops, PATHS)), source="hosts.yml")
    assert (hardened.ssh.user, hardened.ssh.become) == ("ops", "sudo")


def test_execution_hosts_sit_beside_their_nodes_targets_and_the_inventory_names_them() -> None:
    nodes = choose_nodes(INVENTORY, [])
    full = plan_topology(INVENTORY, LabOptions(nodes=nodes, per_node=250, execution_hosts=True))
    runners = full.of_role("execution")
    assert [h.name for h in runners] == [f"exec-{node}" for node in nodes]
    addresses = [h.ipv4 for h in full.hosts] + [h.ipv6 for h in full.hosts]
    assert len(set(addresses)) == len(addresses)
    for host in runners:
        targets = [h for h in full.of_role("target") if h.node == host.node]
        assert host.ipv4 not in {t.ipv4 for t in targets}
        assert host.ipv4.packed[:3] == targets[0].ipv4.packed[:3]
        assert host.ipv6 in IPv6Network(f"{targets[0].ipv6}/64", strict=False)
    hosts = parse_ssh_hosts(yaml.safe_load(render.inventory(full, PATHS)), source="hosts.yml")
    for host in runners:
        assert host.node is not None
        pool = hosts.nodes[host.node]
        assert pool.execution_host is not None
        assert (pool.execution_host.name, pool.execution_host.ipv4) == (host.name, host.ipv4)
        assert host.name not in {h.name for h in pool.hosts}
    plain = parse_ssh_hosts(yaml.safe_load(render.inventory(SMALL, PATHS)), source="hosts.yml")
    assert all(pool.execution_host is None for pool in plain.nodes.values())


def with_platforms(*platforms: str, per_node: int = 1) -> Topology:
    nodes = choose_nodes(INVENTORY, [])
    options = LabOptions(nodes=nodes, per_node=per_node, platforms=platforms)
    return plan_topology(INVENTORY, options)


def test_no_platform_by_default_so_todays_labs_are_unchanged() -> None:
    assert ALL.platforms == []
    assert ALL.ipv4_networks == [LAB_IPV4]
    today = plan_topology(INVENTORY, LabOptions(nodes=choose_nodes(INVENTORY, [])))
    assert with_platforms("guangzhou").hosts[: len(today.hosts)] == today.hosts


def test_platforms_keep_inventory_order_and_unknown_ones_are_refused() -> None:
    assert choose_platforms(INVENTORY, ["shenzhen", "guangzhou"]) == ("guangzhou", "shenzhen")
    assert choose_platforms(INVENTORY, []) == ()
    with pytest.raises(ConfigurationError, match="unknown platform 'shantou'"):
        choose_platforms(INVENTORY, ["shantou"])


def test_a_platform_gets_a_pool_and_a_documentation_prefix_clear_of_every_node() -> None:
    everything = with_platforms(*INVENTORY.platforms, per_node=250)
    prefixes = [plan.prefix for plan in everything.platforms]
    assert prefixes[0] == IPv6Network("2001:db8:100::/48")
    assert prefixes == [platform_prefix(INVENTORY, p) for p in INVENTORY.platforms]
    nodes = [IPv6Network(str(node.ipv6_prefix)) for node in INVENTORY.nodes.values()]
    taken = [*nodes, LAB_IPV6, *prefixes]
    assert not any(a.overlaps(b) for i, a in enumerate(taken) for b in taken[i + 1 :])
    for plan in everything.platforms:
        targets = [h for h in everything.of_role("target") if h.node == plan.node]
        assert [h.name for h in targets][:2] == [f"{plan.node}-1", f"{plan.node}-2"]
        assert len(targets) == 250
        assert all(h.ipv4 in PLATFORM_IPV4 and h.ipv6 in plan.prefix for h in targets)
        assert plan.system_ipv4_pool.subnet_of(PLATFORM_IPV4)
        system = IPv6Network(ipv6_address(str(plan.prefix), 1)).supernet(new_prefix=64)
        assert all(h.ipv6 not in system for h in targets)
    addresses = [h.ipv4 for h in everything.hosts] + [h.ipv6 for h in everything.hosts]
    assert len(set(addresses)) == len(addresses)
    pools = [plan.system_ipv4_pool for plan in everything.nodes]
    assert not any(a.overlaps(b) for i, a in enumerate(pools) for b in pools[i + 1 :])
    assert all(h.ipv4 not in pool for h in everything.hosts for pool in pools)
    assert all(len(host.veth) <= 15 for host in everything.hosts)
    assert everything.ipv4_networks == [LAB_IPV4, PLATFORM_IPV4]


def test_a_platform_prefix_that_overlaps_a_node_is_refused() -> None:
    nodes = dict(INVENTORY.nodes)
    first = next(iter(nodes))
    nodes[first] = nodes[first].model_copy(update={"ipv6_prefix": "2001:db8:100::/40"})
    moved = dataclasses.replace(INVENTORY, nodes=nodes)
    with pytest.raises(ConfigurationError, match="overlaps 2001:db8:100::/40"):
        platform_prefix(moved, "guangzhou")


def test_the_inventory_lists_a_platforms_pool_under_its_id() -> None:
    lab = plan_topology(
        INVENTORY, LabOptions(nodes=("shantou",), sources=1, platforms=("guangzhou",))
    )
    hosts = parse_ssh_hosts(yaml.safe_load(render.inventory(lab, PATHS)), source="hosts.yml")
    assert list(hosts.nodes) == ["shantou", "guangzhou"]
    pool = hosts.nodes["guangzhou"]
    assert [(h.name, str(h.ipv4)) for h in pool.hosts] == [("guangzhou-1", "10.214.1.1")]
    assert str(pool.hosts[0].ipv6) == "2001:db8:100:ffff::1"
    assert str(pool.system_ipv4_pool) == "10.214.16.0/20"
    assert pool.execution_host is None
    assert "guangzhou-1 IN AAAA 2001:db8:100:ffff::1" in render.zone_file(lab)
