"""Inventory, extra vars, environment and strategy of one batch: execution's pure parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.execution import FaultPlan
from orchestrator.execution.strategy import (
    LINEAR,
    AnsibleStrategy,
    choose_strategy,
    mitogen_supports,
)
from orchestrator.execution.targets import (
    CALLBACK_PLUGINS,
    FORGET_SECRETS,
    NodeTarget,
    SystemTarget,
    build_extravars,
    build_inventory,
    runner_envvars,
    scrub_environment,
)
from orchestrator.inventory.models import SourceLocation
from orchestrator.migrations.states import Phase
from orchestrator.providers import LocalProvider

PYTHON = "/opt/venv/bin/python"
NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
LOCAL = LocalProvider(work_root=Path("/srv/govmig"), python=PYTHON)


def system(name: str, **overrides: Any) -> SystemTarget:
    fields: dict[str, Any] = {
        "system_id": name,
        "vcpu": 4,
        "memory_gb": 16,
        "storage_gb": 200,
        "ipv6_index": 7,
        "free_vcpu": 100,
        "free_memory_gb": 400,
        "free_storage_gb": 5000,
        "source": SourceLocation(city="shantou", site="dc-1", host="src-1.lab"),
    }
    return SystemTarget(**(fields | overrides))


def inventory_of(
    systems: list[SystemTarget], phase: Phase = Phase.PREFLIGHT, **options: Any
) -> dict[str, Any]:
    return build_inventory(phase, [(NODE, systems)], provider=LOCAL, **options)


def test_inventory_hosts_are_exactly_the_batch_with_the_providers_vars() -> None:
    inventory = inventory_of([system("sz-tax"), system("st-permits")])
    assert set(inventory) == {"all"}
    assert sorted(inventory["all"]["hosts"]) == ["st-permits", "sz-tax"]
    assert inventory["all"]["vars"] == {}
    # The local provider delegates nothing: its group of delegated hosts is empty.
    assert inventory["all"]["children"] == {"govmig_delegates": {"hosts": {}}}
    assert inventory["all"]["hosts"]["sz-tax"] == {
        "govmig_system_id": {"__ansible_unsafe": "sz-tax"},
        "govmig_vcpu": 4,
        "govmig_memory_gb": 16,
        "govmig_storage_gb": 200,
        "govmig_ipv6_index": 7,
        "govmig_free_vcpu": 100,
        "govmig_free_memory_gb": 400,
        "govmig_free_storage_gb": 5000,
        "govmig_source_host": {"__ansible_unsafe": "src-1.lab"},
        "govmig_lease_generation": 0,
        "govmig_node": "shantou",
        "govmig_ipv6_prefix": "2001:db8:1::/48",
        "govmig_node_systems": 2,
        "ansible_connection": "local",
        "ansible_python_interpreter": PYTHON,
        "govmig_work_root": "/srv/govmig",
    }


def test_failure_injection_is_a_host_vars_hook_that_fires_once_for_its_phase() -> None:
    faults = FaultPlan.parse("b:replicate")
    batch = [system("a"), system("b")]
    early = inventory_of(batch, Phase.PROVISION, hooks=[faults.host_vars])["all"]["hosts"]
    assert not any("govmig_fail_phase" in host for host in early.values())
    hosts = inventory_of(batch, Phase.REPLICATE, hooks=[faults.host_vars])["all"]["hosts"]
    assert "govmig_fail_phase" not in hosts["a"]
    assert hosts["b"]["govmig_fail_phase"] == "replicate"
    again = inventory_of(batch, Phase.REPLICATE, hooks=[faults.host_vars])["all"]["hosts"]
    assert "govmig_fail_phase" not in again["b"], "a fault fires once"


def test_secrets_go_to_the_inventory_only_marked_unsafe() -> None:
    # Marked unsafe, a secret that looks like a template is never evaluated (nor compiled).
    secrets = {"govmig_secret_service_token": "tok{{ lookup('pipe', 'id') }}"}
    inventory = inventory_of([system("a")], secrets=secrets)
    assert inventory["all"]["vars"]["govmig_secret_service_token"] == {
        "__ansible_unsafe": "tok{{ lookup('pipe', 'id') }}"
    }
    extravars = build_extravars(provider="local")
    assert not any(name.startswith("govmig_secret") for name in extravars)


@pytest.mark.parametrize(
    ("systems", "secrets", "error"),
    [
        ([], {}, PermanentError),
        ([system("a"), system("a")], {}, PermanentError),
        ([system("a")], {"service_token": "x"}, ConfigurationError),
        ([system("a")], {"govmig_secret_{{ lookup }}": "x"}, ConfigurationError),
    ],
    ids=["empty-batch", "duplicate", "unprefixed-secret", "template-in-secret-name"],
)
def test_bad_batches_are_refused(
    systems: list[SystemTarget], secrets: dict[str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        inventory_of(systems, secrets=secrets)


def test_extravars_are_the_batch_constants() -> None:
    assert build_extravars(provider="local") == {"govmig_provider": "local"}


def test_each_host_has_its_own_nodes_vars_and_count_in_a_batch_spanning_nodes() -> None:
    yunfu = NodeTarget(node_id="yunfu", ipv6_prefix="2001:db8:e::/48")
    work = [(NODE, [system("a")]), (yunfu, [system("b"), system("c")])]
    hosts = build_inventory(Phase.PREFLIGHT, work, provider=LOCAL)["all"]["hosts"]
    on_node = {
        sid: (h["govmig_node"], h["govmig_ipv6_prefix"], h["govmig_node_systems"])
        for sid, h in hosts.items()
    }
    assert on_node == {
        "a": ("shantou", "2001:db8:1::/48", 1),
        "b": ("yunfu", "2001:db8:e::/48", 2),
        "c": ("yunfu", "2001:db8:e::/48", 2),
    }


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("2001:db8:1::/48", "2001:db8:1::/48"), ("2001:0db8:0001:0002::/64", "2001:db8:1:2::/64")],
    ids=["compressed", "expanded"],
)
def test_node_prefix_is_canonical(given: str, canonical: str) -> None:
    assert NodeTarget(node_id="shantou", ipv6_prefix=given).ipv6_prefix == canonical


@pytest.mark.parametrize(
    "prefix",
    ["10.0.0.0/8", "2001:db8:1::1/48", "2001:db8::/80", "{{ evil }}", "2001:db8::/48; rm -rf /"],
    ids=["ipv4", "host-bits", "too-long", "template", "shell"],
)
def test_bad_node_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValidationError):
        NodeTarget(node_id="shantou", ipv6_prefix=prefix)


@pytest.mark.parametrize(
    "overrides",
    [
        {"system_id": "../etc"},
        {"system_id": "{{ lookup('pipe', 'id') }}"},
        {"vcpu": 0},
        {"vcpu": "4"},
        {"ipv6_index": 0},
        {"ipv6_index": 0x10000},
        {"free_vcpu": -1},
        {"source": {"city": "shantou", "site": "dc", "host": "a; rm -rf /"}},
    ],
    ids=[
        "path",
        "template",
        "zero-vcpu",
        "string-vcpu",
        "index-0",
        "index-too-big",
        "negative-free",
        "shell-in-source-host",
    ],
)
def test_bad_system_targets_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        system("ok", **overrides)


def test_environment_keeps_only_what_ansible_needs() -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",
        "PYTHONUNBUFFERED": "1",
        "GOVMIG_SASL_PLAIN_PASSWORD": "hunter2",
        "GOVMIG_STATE_DB": "postgresql://u:pw@db/govmig",
        "AWS_SECRET_ACCESS_KEY": "k",
    }
    assert scrub_environment(env) == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",
        "PYTHONUNBUFFERED": "1",
    }


def test_a_provider_keeps_its_own_variables_and_prefixes() -> None:
    env = {"PATH": "/usr/bin", "OS_CLOUD": "gd", "OS_PASSWORD": "pw", "KRB5CCNAME": "x", "T": "1"}
    kept = scrub_environment(env, keep=frozenset({"OS_*", "KRB5CCNAME"}))
    assert kept == {"PATH": "/usr/bin", "OS_CLOUD": "gd", "OS_PASSWORD": "pw", "KRB5CCNAME": "x"}


def test_runner_env_selects_the_strategy_and_the_venv() -> None:
    mitogen = AnsibleStrategy("mitogen_linear", {"ANSIBLE_STRATEGY": "mitogen_linear"})
    env = runner_envvars(mitogen, python=PYTHON)
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert "ANSIBLE_STRATEGY" not in runner_envvars(LINEAR, python=PYTHON)


def test_every_run_forgets_its_secrets_and_keeps_the_callbacks_an_operator_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANSIBLE_CALLBACKS_ENABLED", raising=False)
    monkeypatch.delenv("ANSIBLE_CALLBACK_PLUGINS", raising=False)
    for strategy in (LINEAR, AnsibleStrategy("mitogen_linear", {})):
        env = runner_envvars(strategy, python=PYTHON)
        assert env["ANSIBLE_CALLBACKS_ENABLED"] == FORGET_SECRETS
        assert env["ANSIBLE_CALLBACK_PLUGINS"] == str(CALLBACK_PLUGINS)
    assert (CALLBACK_PLUGINS / f"{FORGET_SECRETS}.py").is_file()
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "ansible.posix.profile_tasks")
    monkeypatch.setenv("ANSIBLE_CALLBACK_PLUGINS", "/srv/callbacks")
    env = runner_envvars(LINEAR, python=PYTHON)
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == f"{FORGET_SECRETS},ansible.posix.profile_tasks"
    assert env["ANSIBLE_CALLBACK_PLUGINS"] == f"{CALLBACK_PLUGINS}:/srv/callbacks"


@pytest.mark.parametrize(
    ("ansible", "mitogen", "expected"),
    [
        ((2, 19, 14), (0, 3, 54), True),
        ((2, 17, 0), (0, 3, 25), True),
        ((2, 21, 0), (0, 3, 54), False),
        ((2, 9, 27), (0, 3, 54), False),
        ((2, 19, 14), (0, 3, 24), False),
        ((2, 19, 14), None, False),
        (None, (0, 3, 54), False),
    ],
    ids=[
        "current",
        "oldest",
        "too-new-ansible",
        "too-old-ansible",
        "old-mitogen",
        "no-mitogen",
        "no-ansible",
    ],
)
def test_mitogen_compatibility(
    ansible: tuple[int, ...] | None, mitogen: tuple[int, ...] | None, expected: bool
) -> None:
    assert mitogen_supports(ansible, mitogen) is expected


def test_mitogen_can_be_turned_off() -> None:
    strategy, reason = choose_strategy(use_mitogen=False)
    assert strategy is LINEAR
    assert reason == "mitogen turned off"


def test_installed_mitogen_is_chosen() -> None:
    strategy, _ = choose_strategy(use_mitogen=True)
    assert strategy.name == "govmig_mitogen"
    plugins = Path(strategy.envvars["ANSIBLE_STRATEGY_PLUGINS"])
    assert (plugins / "govmig_mitogen.py").is_file()
    assert strategy.envvars["ANSIBLE_STRATEGY"] == strategy.name
