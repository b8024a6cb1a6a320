"""inventory/hosts.yml is a real Ansible inventory, and Ansible reads what the loader reads.

Runs the real ``ansible-inventory`` and ``ansible`` from the project's virtualenv
against the committed file: the 14 city nodes and 7 PRD platforms appear with
their vars, every node's vars equal the pydantic loader's view, and a template
can use them on every node without a warning.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, HOSTS_FILE, load_inventory

pytestmark = pytest.mark.ansible

BIN = Path(sys.executable).parent
HOSTS = DEFAULT_INVENTORY_ROOT / HOSTS_FILE


def run_ansible(tool: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        # A file Ansible cannot parse must fail here, not be skipped with a warning.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ENABLED": "yaml",
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [str(BIN / tool), "-i", str(HOSTS), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = run_ansible("ansible-inventory", "--list", home=tmp_path_factory.mktemp("ansible"))
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_ansible_sees_the_14_city_nodes_and_7_platforms(listing: dict[str, Any]) -> None:
    inventory = load_inventory()
    assert sorted(listing["city_nodes"]["hosts"]) == sorted(inventory.nodes)
    assert sorted(listing["prd_platforms"]["hosts"]) == sorted(inventory.platforms)
    assert len(listing["city_nodes"]["hosts"]) == 14
    assert len(listing["prd_platforms"]["hosts"]) == 7


def test_every_node_has_the_loaders_vars(listing: dict[str, Any]) -> None:
    hostvars = listing["_meta"]["hostvars"]
    for node in load_inventory().nodes.values():
        seen = hostvars[node.id]
        assert seen["ansible_connection"] == "local"
        assert len(seen["govmig_cities"]) == 21
        mine = {k: v for k, v in seen.items() if not k.startswith(("ansible_", "govmig_"))}
        assert mine == node.model_dump(mode="json", exclude={"id"}), node.id


def test_every_platform_has_its_city_and_name(listing: dict[str, Any]) -> None:
    hostvars = listing["_meta"]["hostvars"]
    for platform in load_inventory().platforms.values():
        assert hostvars[platform.id]["city"] == platform.city
        assert hostvars[platform.id]["platform_name"] == platform.name


def test_a_template_reads_node_vars_on_every_node(tmp_path: Path) -> None:
    message = "{{ city }}|{{ capacity.vcpu }}|{{ govmig_cities[city].name_zh }}|{{ ipv6_prefix }}"
    result = run_ansible(
        "ansible", "city_nodes", "-m", "ansible.builtin.debug", "-a", f"msg={message}",
        home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    found = dict(re.findall(r'"msg": "([a-z]+)\|(\d+)\|', result.stdout))
    nodes = load_inventory().nodes
    assert found == {node.city: str(node.capacity.vcpu) for node in nodes.values()}
    assert '"msg": "shantou|10000|汕头市|2001:db8:1::/48"' in result.stdout
