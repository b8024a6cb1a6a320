"""The ssh provider's vars: target choice, addresses, refused sources, its settings and secrets."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.execution import NodeTarget
from orchestrator.execution.targets import build_inventory, split_ssh_key, unsafe
from orchestrator.inventory.models import SourceLocation
from orchestrator.migrations import Phase
from orchestrator.providers import PROVIDERS, SshProvider, build_provider
from orchestrator.providers.ssh import JUMP_SHARING, choose_target
from orchestrator.providers.ssh_hosts import parse_ssh_hosts
from orchestrator.settings import WorkerSettings
from orchestrator.worker.phase_worker import run_place
from orchestrator.worker.targets import ipv6_address
from tests.fixtures.targets import system_target

NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAkeybody\n-----END OPENSSH PRIVATE KEY-----\n"


def hosts_document(keys: Path) -> dict[str, Any]:
    pool = [
        {"name": f"shantou-{j}", "ipv4": f"10.213.2.{j}", "ipv6": f"2001:db8:1:ffff::{j}"}
        for j in (1, 2, 3)
    ]
    return {
        "ssh": {
            "user": "root",
            "private_key_file": str(keys / "id"),
            "known_hosts_file": str(keys / "known_hosts"),
        },
        "dns": {
            "server_ipv4": "10.213.0.53",
            "server_ipv6": "2001:db8:1000::53",
            "zone": "lab.govmig.test",
            "tsig_key_file": str(keys / "tsig.key"),
            "tsig_key_name": "govmig-lab",
        },
        "nodes": {"shantou": {"system_ipv4_pool": "10.213.32.0/20", "hosts": pool}},
        "sources": [{"name": "src-1", "ipv4": "10.213.1.1", "ipv6": "2001:db8:1000:1::1"}],
    }


@pytest.fixture
def provider(tmp_path: Path) -> SshProvider:
    (tmp_path / "id").write_text(KEY)
    (tmp_path / "tsig.key").write_text('key "govmig-lab" {\n\tsecret "c2VjcmV0Cg==";\n};\n')
    return SshProvider(hosts=parse_ssh_hosts(hosts_document(tmp_path), source="test"))


def from_source(host: str, system_id: str = "st-tax", index: int = 5) -> Any:
    return system_target(
        system_id, index, source=SourceLocation(city="shantou", site="lab", host=host)
    )


def test_it_is_registered() -> None:
    assert PROVIDERS["ssh"] == SshProvider.from_settings


def test_the_target_host_is_stable_and_spreads_over_the_pool(provider: SshProvider) -> None:
    pool = provider.hosts.nodes["shantou"].hosts
    chosen = {sid: choose_target(sid, pool).name for sid in (f"sys-{i}" for i in range(60))}
    assert chosen == {sid: choose_target(sid, pool).name for sid in chosen}
    assert set(chosen.values()) == {"shantou-1", "shantou-2", "shantou-3"}
    # Removing a host moves only the systems that were on it.
    fewer = pool[:2]
    assert all(
        choose_target(sid, fewer).name == name
        for sid, name in chosen.items()
        if name != "shantou-3"
    )


def test_connection_vars_reach_the_target_with_pinned_keys_and_an_agent(
    provider: SshProvider, tmp_path: Path
) -> None:
    found = provider.connection_vars(from_source("src-1"), NODE)
    target = provider.target(from_source("src-1"), NODE)
    assert found["ansible_host"] == str(target.ipv4)
    assert (found["ansible_user"], found["ansible_python_interpreter"]) == (
        "root",
        "/usr/bin/python3",
    )
    args = found["ansible_ssh_args"]
    assert "StrictHostKeyChecking=yes" in args
    assert "ForwardAgent=yes" in args
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in args
    assert "private_key" not in str(found)
    assert "ansible_ssh_private_key_file" not in found
    assert provider.run_env == {}  # the hosts keep Ansible's temp files where they would


def test_hosts_keep_no_compiled_code_when_the_inventory_says_so(tmp_path: Path) -> None:
    (tmp_path / "id").write_text(KEY)
    document = hosts_document(tmp_path)
    document["ssh"]["host_code_cache"] = False

    provider = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    assert provider.run_env == {"GOVMIG_HOST_CODE_CACHE": "0"}  # govmig_mitogen reads it


def test_root_logs_in_as_itself_and_another_user_becomes_root_with_sudo(
    provider: SshProvider, tmp_path: Path
) -> None:
    target = from_source("src-1")
    assert provider.connection_vars(target, NODE)["ansible_become"] is False
    assert provider.host_vars(target, NODE)["govmig_become"] is False
    document = hosts_document(tmp_path)
    document["ssh"] |= {"user": "ops", "become": "sudo"}
    hardened = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    found = hardened.connection_vars(target, NODE)
    assert found["ansible_user"] == "ops"
    assert (found["ansible_become"], found["ansible_become_method"]) == (True, "sudo")
    assert found["ansible_become_user"] == "root"
    assert hardened.host_vars(target, NODE)["govmig_become"] is True


def test_with_a_jump_host_every_login_goes_through_it_checked_like_any_host(
    provider: SshProvider, tmp_path: Path
) -> None:
    assert "ProxyCommand" not in provider.ssh_args()
    document = hosts_document(tmp_path)
    document["ssh"]["jump_host"] = {"name": "bastion", "ipv4": "10.213.0.22", "ipv6": "::22"}
    behind = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    words = shlex.split(behind.ssh_args())
    (proxy,) = [w for w in words if w.startswith("ProxyCommand=")]
    inner = shlex.split(proxy.removeprefix("ProxyCommand="))  # as its shell reads it
    assert inner[:3] == ["ssh", "-l", "root"]
    assert inner[-3:] == ["-W", "[%h]:%p", "10.213.0.22"]
    for option in ("StrictHostKeyChecking=yes", f"UserKnownHostsFile={tmp_path / 'known_hosts'}"):
        assert option in inner  # ssh -J would not apply the run's options to the jump
        assert option in words
    # The run's connections through it share one login to it, in the run's temp dir (ssh
    # takes the first of each option given: the hosts' ControlMaster=no is not there).
    options = [inner[i + 1] for i, w in enumerate(inner) if w == "-o"]
    assert set(JUMP_SHARING) <= set(options)
    assert "ControlMaster=no" not in options
    assert "ControlPath=${GOVMIG_RUN_TMP}/govmig-jump" in proxy  # ssh expands it, not the shell
    assert "ControlMaster=no" in words  # the hosts' own logins share nothing
    assert behind.connection_vars(from_source("src-1"), NODE)["ansible_ssh_args"] == " ".join(
        shlex.quote(w) for w in words
    )
    # The role's checks and DNS updates reach the site through it too, with the same words.
    jump = behind.host_vars(from_source("src-1"), NODE)["govmig_jump"]
    assert [*jump["argv"], "-W", "[%h]:%p", jump["address"]] == inner
    assert provider.host_vars(from_source("src-1"), NODE)["govmig_jump"] is None


def test_behind_a_jump_host_an_execution_hosts_runs_go_straight_and_it_through_the_jump(
    tmp_path: Path,
) -> None:
    document = hosts_document(tmp_path)
    document["ssh"]["jump_host"] = {"name": "bastion", "ipv4": "10.213.0.22", "ipv6": "::22"}
    exec_host = {"name": "exec-1", "ipv4": "10.213.2.251", "ipv6": "2001:db8:1:ffff::fb"}
    document["nodes"]["shantou"]["execution_host"] = exec_host
    behind = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    system = from_source("src-1")
    assert behind.runs_inside(NODE)
    # The execution host runs the node's playbooks inside the site: straight to every host,
    # and its checks straight to the services and the DNS server.
    logins = [behind.connection_vars(system, NODE), *behind.delegate_hosts(system, NODE).values()]
    assert all("ProxyCommand" not in login["ansible_ssh_args"] for login in logins)
    assert behind.host_vars(system, NODE)["govmig_jump"] is None
    # The orchestrator reaches the execution host through the jump host, with the key file
    # (it has no agent to lend) for both logins.
    found = behind.execution_host(NODE)
    assert found is not None
    (proxy,) = [w for w in found.ssh_options if w.startswith("ProxyCommand=")]
    inner = shlex.split(proxy.removeprefix("ProxyCommand="))
    assert inner[-3:] == ["-W", "[%h]:%p", "10.213.0.22"]
    assert ["-i", str(tmp_path / "id"), "-o", "IdentitiesOnly=yes"] == inner[-7:-3]
    # Made outside any run: no run's temp dir to share a login in.
    assert "ControlMaster=no" in inner
    assert "ControlMaster=auto" not in inner
    # A node without an execution host is run from here, through the jump host.
    document["nodes"]["shantou"].pop("execution_host")
    outside = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    assert not outside.runs_inside(NODE)
    assert "ProxyCommand" in outside.connection_vars(system, NODE)["ansible_ssh_args"]
    assert outside.host_vars(system, NODE)["govmig_jump"] is not None


@pytest.mark.parametrize("index", [1, 5, 0xABC], ids=["first", "fifth", "hex"])
def test_the_systems_addresses_are_the_recorded_ones(provider: SshProvider, index: int) -> None:
    found = provider.host_vars(from_source("src-1", index=index), NODE)
    assert found["govmig_system_ipv6"] == ipv6_address(NODE.ipv6_prefix, index)
    assert found["govmig_system_ipv4"] == f"10.213.{32 + index // 256}.{index % 256}"
    assert found["govmig_system_ipv6"] not in {h.ipv6 for h in provider.hosts.all_hosts()}
    assert found["govmig_service_name"] == {"__ansible_unsafe": "st-tax.lab.govmig.test"}
    assert found["govmig_service_port"] == 8080
    assert found["govmig_tsig_algorithm"] == "hmac-sha256"


@pytest.mark.parametrize(
    ("mbps", "kb"), [(None, 0), (1, 125), (200, 25_000)], ids=["none", "1", "200"]
)
def test_a_nodes_link_limit_reaches_the_role_in_kilobytes_a_second(
    provider: SshProvider, mbps: int | None, kb: int
) -> None:
    document = provider.hosts.model_dump(mode="json")
    document["nodes"]["shantou"]["replication_limit_mbps"] = mbps
    limited = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    found = limited.host_vars(from_source("src-1"), NODE)
    assert found["govmig_replication_limit_kb"] == kb


def test_an_index_past_the_ipv4_pool_is_refused(provider: SshProvider) -> None:
    with pytest.raises(PermanentError, match="has no address number 4095"):
        provider.host_vars(from_source("src-1", index=4095), NODE)


@pytest.mark.parametrize("host", ["src-9", "SRC-1", "10.213.1.1", "src-1.evil", "a" * 64], ids=str)
def test_a_source_host_the_inventory_does_not_name_is_refused(
    provider: SshProvider, host: str
) -> None:
    system = from_source(host)
    for phase in (Phase.PREFLIGHT, Phase.PROVISION, Phase.CUTOVER):
        assert "is not a source in the hosts inventory" in str(provider.precheck(phase, system))
    assert provider.precheck(Phase.PREFLIGHT, from_source("src-1")) is None


def test_a_refused_system_still_rolls_back_with_no_source_to_reach(provider: SshProvider) -> None:
    """Its preflight never ran, so its rollback has nothing to undo and ends it rolled_back."""
    system = from_source("src-9")
    assert provider.precheck(Phase.ROLLBACK, system) is None
    assert provider.delegate_hosts(system, NODE) == {}
    inventory = build_inventory(Phase.ROLLBACK, [(NODE, [system])], provider=provider)
    assert inventory["all"]["children"] == {"govmig_delegates": {"hosts": {}}}


def test_the_source_is_in_the_inventory_and_logged_in_to_as_the_target(
    provider: SshProvider,
) -> None:
    """The role delegates to the source by name; the inventory says how to reach it."""
    one, two = from_source("src-1", "st-tax", 1), from_source("src-1", "st-permits", 2)
    inventory = build_inventory(Phase.REPLICATE, [(NODE, [one, two])], provider=provider)
    assert sorted(inventory["all"]["hosts"]) == ["st-permits", "st-tax"]
    (source,) = inventory["all"]["children"]["govmig_delegates"]["hosts"].items()
    target = provider.connection_vars(one, NODE)
    assert source == ("src-1", {**target, "ansible_host": "10.213.1.1"})


def test_a_system_named_as_a_source_host_is_refused(provider: SshProvider) -> None:
    clash = from_source("src-1", "src-1")
    with pytest.raises(PermanentError, match="'src-1' names both a system of the batch and a host"):
        build_inventory(Phase.PREFLIGHT, [(NODE, [clash])], provider=provider)


def test_a_node_without_hosts_is_refused(provider: SshProvider) -> None:
    other = NodeTarget(node_id="heyuan", ipv6_prefix="2001:db8:3::/48")
    with pytest.raises(PermanentError, match="node heyuan has no target hosts"):
        provider.connection_vars(from_source("src-1"), other)


def test_secrets_are_read_afresh_and_the_key_never_enters_the_inventory(
    provider: SshProvider, tmp_path: Path
) -> None:
    secrets = provider.secrets()
    assert secrets == {
        "govmig_secret_ssh_private_key": KEY,
        "govmig_secret_tsig_key": "c2VjcmV0Cg==",
    }
    (tmp_path / "id").write_text(KEY.replace("keybody", "rotated"))
    assert "rotated" in provider.secrets()["govmig_secret_ssh_private_key"]
    key, rest = split_ssh_key(provider.secrets())
    assert key is not None
    assert "rotated" in key
    inventory = build_inventory(
        Phase.REPLICATE, [(NODE, [from_source("src-1")])], provider=provider, secrets=rest
    )
    assert "rotated" not in str(inventory)
    assert inventory["all"]["vars"] == {"govmig_secret_tsig_key": unsafe("c2VjcmV0Cg==")}


def test_a_sudo_password_is_a_secret_of_the_run_the_login_only_names(tmp_path: Path) -> None:
    document = hosts_document(tmp_path)
    (tmp_path / "id").write_text(KEY)
    (tmp_path / "tsig.key").write_text('key "govmig-lab" {\n\tsecret "c2VjcmV0Cg==";\n};\n')
    (tmp_path / "sudo-password").write_text("s3cr3t pass\n")
    document["ssh"] |= {
        "user": "ops",
        "become": "sudo",
        "become_password_file": str(tmp_path / "sudo-password"),
    }
    asks = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    assert asks.secrets()["govmig_secret_become_password"] == "s3cr3t pass"
    for login in (
        asks.connection_vars(from_source("src-1"), NODE),
        *asks.delegate_hosts(from_source("src-1"), NODE).values(),
    ):
        assert login["ansible_become_password"] == "{{ govmig_secret_become_password }}"
    inventory = build_inventory(
        Phase.PREFLIGHT, [(NODE, [from_source("src-1")])], provider=asks, secrets=asks.secrets()
    )
    assert "s3cr3t" not in str(inventory["all"]["hosts"]) + str(inventory["all"]["children"])
    (tmp_path / "sudo-password").write_text("\n")
    with pytest.raises(ConfigurationError, match="sudo-password holds no password"):
        asks.secrets()


def test_without_a_sudo_password_the_login_names_none(provider: SshProvider) -> None:
    assert "ansible_become_password" not in provider.connection_vars(from_source("src-1"), NODE)
    assert "govmig_secret_become_password" not in provider.secrets()


def test_a_missing_key_file_is_one_clear_error(provider: SshProvider, tmp_path: Path) -> None:
    (tmp_path / "id").unlink()
    with pytest.raises(ConfigurationError, match="cannot read an ssh provider key file"):
        provider.secrets()


def test_the_ssh_provider_needs_a_hosts_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--hosts FILE"):
        build_provider(WorkerSettings(provider="ssh"))
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(hosts_document(tmp_path)))
    built = build_provider(WorkerSettings(provider="ssh", hosts_file=path))
    assert isinstance(built, SshProvider)
    assert [h.name for h in built.hosts.sources] == ["src-1"]


def test_an_unsafe_known_hosts_path_is_refused(tmp_path: Path) -> None:
    document = hosts_document(tmp_path)
    document["ssh"]["known_hosts_file"] = "/k/known hosts -o ProxyCommand=x"
    with pytest.raises(ConfigurationError, match="known_hosts file"):
        SshProvider(hosts=parse_ssh_hosts(document, source="test"))


def test_every_string_an_event_put_in_the_ssh_hosts_vars_is_marked_unsafe(
    provider: SshProvider,
) -> None:
    """The ssh provider's vars come from its hosts file; the event's own strings are unsafe."""
    target = from_source("src-1")
    (host_vars,) = build_inventory(Phase.PREFLIGHT, [(NODE, [target])], provider=provider)["all"][
        "hosts"
    ].values()
    from_event = {target.system_id, target.source.host}
    raw = {
        name for name, value in host_vars.items() if isinstance(value, str) and value in from_event
    }
    wrapped = {
        name: value["__ansible_unsafe"]
        for name, value in host_vars.items()
        if isinstance(value, dict)
    }
    assert raw == set()
    assert wrapped == {
        "govmig_system_id": "st-tax",
        "govmig_source_host": "src-1",
        "govmig_service_name": "st-tax.lab.govmig.test",
    }


def test_a_node_runs_here_unless_its_pool_names_an_execution_host(tmp_path: Path) -> None:
    document = hosts_document(tmp_path)
    here = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    node = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
    assert here.execution_host(node) is None
    exec_host = {"name": "exec-shantou", "ipv4": "10.213.2.251", "ipv6": "2001:db8:1:ffff::fb"}
    document["nodes"]["shantou"]["execution_host"] = exec_host
    near = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    found = near.execution_host(node)
    assert found is not None
    assert (found.name, found.address, found.user) == ("exec-shantou", "10.213.2.251", "root")
    assert found.identity_file == tmp_path / "id"
    options = " ".join(found.ssh_options)
    assert "StrictHostKeyChecking=yes" in options
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in options
    # The orchestrator lends no agent to the execution host: the run brings its own.
    assert "ForwardAgent" not in options
    assert found.ssh_options[-2:] == ("-p", "22")


def test_each_host_is_reached_on_its_own_sshd_port(tmp_path: Path) -> None:
    document = hosts_document(tmp_path)
    for j, host in enumerate(document["nodes"]["shantou"]["hosts"]):
        host["port"] = 2200 + j
    document["sources"][0]["port"] = 2299
    document["ssh"]["jump_host"] = {"name": "bastion", "ipv4": "10.213.0.22", "ipv6": "::22"}
    document["ssh"]["jump_host"]["port"] = 2022
    ported = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    system = from_source("src-1")
    target = ported.target(system, NODE)
    assert ported.connection_vars(system, NODE)["ansible_port"] == target.port
    # The source's rsync logs in to the target on the target's port.
    assert ported.host_vars(system, NODE)["govmig_target_port"] == target.port
    assert ported.delegate_hosts(system, NODE)["src-1"]["ansible_port"] == 2299
    (proxy,) = [w for w in shlex.split(ported.ssh_args()) if w.startswith("ProxyCommand=")]
    assert proxy.startswith("ProxyCommand=ssh -l root -p 2022 ")


def test_nodes_run_from_here_share_a_place_and_one_with_an_execution_host_has_its_own(
    tmp_path: Path,
) -> None:
    document = hosts_document(tmp_path)
    for j, node_id in ((4, "huizhou"), (5, "yunfu")):
        host = {"name": f"{node_id}-1", "ipv4": f"10.213.{j}.1", "ipv6": f"2001:db8:{j}:ffff::1"}
        document["nodes"][node_id] = {"system_ipv4_pool": f"10.213.{16 * j}.0/20", "hosts": [host]}
    exec_host = {"name": "exec-shantou", "ipv4": "10.213.2.251", "ipv6": "2001:db8:1:ffff::fb"}
    document["nodes"]["shantou"]["execution_host"] = exec_host
    provider = SshProvider(hosts=parse_ssh_hosts(document, source="test"))
    nodes = {
        node_id: NodeTarget(node_id=node_id, ipv6_prefix=f"2001:db8:{i}::/48")
        for i, node_id in enumerate(("shantou", "huizhou", "yunfu"), start=1)
    }
    place = run_place(nodes, provider)
    assert {node_id: place(node_id) for node_id in (*nodes, "guangzhou")} == {
        "shantou": "execution host exec-shantou",
        "huizhou": "",
        "yunfu": "",
        "guangzhou": "node guangzhou",  # not in the inventory: a platform, on its own
    }


def with_platform(provider: SshProvider) -> SshProvider:
    """``provider``'s hosts file with Guangzhou's platform pool under its id, as the lab writes."""
    document = provider.hosts.model_dump(mode="json")
    document["nodes"]["guangzhou"] = {
        "system_ipv4_pool": "10.214.16.0/20",
        "hosts": [{"name": "guangzhou-1", "ipv4": "10.214.1.1", "ipv6": "2001:db8:100:ffff::1"}],
    }
    return SshProvider(hosts=parse_ssh_hosts(document, source="test"))


PLATFORM = NodeTarget(node_id="guangzhou", ipv6_prefix="2001:db8:100::/48", hosts=("guangzhou-1",))


def test_a_system_on_a_platform_gets_a_host_and_addresses_of_the_platforms_pool(
    provider: SshProvider,
) -> None:
    found = with_platform(provider).host_vars(from_source("src-1", "gz-tax", 3), PLATFORM)
    assert (found["govmig_target_host"], found["govmig_target_ipv4"]) == (
        "guangzhou-1",
        "10.214.1.1",
    )
    assert (found["govmig_system_ipv4"], found["govmig_system_ipv6"]) == (
        "10.214.16.3",
        "2001:db8:100::3",
    )
    unnamed = PLATFORM.model_copy(update={"hosts": ()})  # a connect event without --host
    assert with_platform(provider).target(from_source("src-1"), unnamed).name == "guangzhou-1"


@pytest.mark.parametrize("named", [("gz-cloud-1",), ("guangzhou-1", "guangzhou-2")], ids=str)
def test_a_platform_whose_event_names_other_hosts_than_the_file_is_refused(
    provider: SshProvider, named: tuple[str, ...]
) -> None:
    other = PLATFORM.model_copy(update={"hosts": named})
    with pytest.raises(PermanentError, match="platform guangzhou's connect event names hosts"):
        with_platform(provider).connection_vars(from_source("src-1"), other)
