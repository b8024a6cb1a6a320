"""Inventory, extra vars, environment and strategy of one batch: execution's pure parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.errors import ConfigurationError, PermanentError
from orchestrator.execution.strategy import LINEAR, Strategy, choose_strategy, mitogen_supports
from orchestrator.execution.targets import (
    NodeTarget,
    SystemTarget,
    build_extravars,
    build_inventory,
    check_work_root,
    runner_envvars,
    scrub_environment,
)
from orchestrator.migrations.states import Phase

PYTHON = "/opt/venv/bin/python"
NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")


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
    }
    return SystemTarget(**(fields | overrides))


def test_inventory_hosts_are_exactly_the_batch() -> None:
    inventory = build_inventory([system("sz-tax"), system("st-permits")], python=PYTHON)
    assert set(inventory) == {"all"}
    assert sorted(inventory["all"]["hosts"]) == ["st-permits", "sz-tax"]
    assert inventory["all"]["vars"] == {
        "ansible_connection": "local",
        "ansible_python_interpreter": PYTHON,
    }
    assert inventory["all"]["hosts"]["sz-tax"] == {
        "govmig_system_id": "sz-tax",
        "govmig_vcpu": 4,
        "govmig_memory_gb": 16,
        "govmig_storage_gb": 200,
        "govmig_ipv6_index": 7,
        "govmig_free_vcpu": 100,
        "govmig_free_memory_gb": 400,
        "govmig_free_storage_gb": 5000,
    }


def test_failure_injection_is_a_host_var_of_one_system() -> None:
    inventory = build_inventory(
        [system("a"), system("b", fail_phase=Phase.REPLICATE)], python=PYTHON
    )
    hosts = inventory["all"]["hosts"]
    assert "govmig_fail_phase" not in hosts["a"]
    assert hosts["b"]["govmig_fail_phase"] == "replicate"


def test_secrets_go_to_the_inventory_only() -> None:
    secrets = {"govmig_secret_service_token": "tok"}
    inventory = build_inventory([system("a")], python=PYTHON, secrets=secrets)
    assert inventory["all"]["vars"]["govmig_secret_service_token"] == "tok"
    extravars = build_extravars(NODE, work_root=Path("/srv/govmig"), provider="local")
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
        build_inventory(systems, python=PYTHON, secrets=secrets)


def test_extravars_are_the_batch_constants() -> None:
    assert build_extravars(NODE, work_root=Path("/srv/govmig"), provider="local") == {
        "govmig_provider": "local",
        "govmig_work_root": "/srv/govmig",
        "govmig_node": "shantou",
        "govmig_ipv6_prefix": "2001:db8:1::/48",
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
        {"fail_phase": "explode"},
    ],
    ids=[
        "path",
        "template",
        "zero-vcpu",
        "string-vcpu",
        "index-0",
        "index-too-big",
        "negative-free",
        "unknown-phase",
    ],
)
def test_bad_system_targets_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        system("ok", **overrides)


@pytest.mark.parametrize(
    "path",
    ["relative/dir", "/tmp/{{ x }}", "/tmp/a b", "/tmp/%(x)s", "/tmp/../etc", "/tmp/$HOME"],
    ids=["relative", "template", "space", "percent", "dotdot", "dollar"],
)
def test_unsafe_work_roots_are_refused(path: str) -> None:
    with pytest.raises(ConfigurationError):
        check_work_root(Path(path))


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


def test_runner_env_selects_the_strategy_and_the_venv() -> None:
    mitogen = Strategy("mitogen_linear", {"ANSIBLE_STRATEGY": "mitogen_linear"})
    env = runner_envvars(mitogen, python=PYTHON)
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert "ANSIBLE_STRATEGY" not in runner_envvars(LINEAR, python=PYTHON)


@pytest.mark.parametrize(
    ("ansible", "mitogen", "expected"),
    [
        ((2, 19, 14), (0, 3, 54), True),
        ((2, 10, 0), (0, 3, 9), True),
        ((2, 21, 0), (0, 3, 54), False),
        ((2, 9, 27), (0, 3, 54), False),
        ((2, 19, 14), (0, 3, 3), False),
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
    assert strategy.name == "mitogen_linear"
    assert Path(strategy.envvars["ANSIBLE_STRATEGY_PLUGINS"], "mitogen_linear.py").is_file()
