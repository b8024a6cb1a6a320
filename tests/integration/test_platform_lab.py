"""A PRD city's system migrates onto its connected platform's hosts in the lab, with ``ssh``.

One small lab: node shantou and Guangzhou's platform (``govmig lab up
--platforms guangzhou``), one target host each, one source host, BIND. The
platform is connected with ``govmig platform connect`` carrying the lab's
IPv6 prefix for it and its host; a Guangzhou system seeded on the source is
then migrated through every phase by ``govmig run --provider ssh`` and ends
``completed`` on the platform's host, its name answering over IPv6 inside the
platform's prefix. ``govmig lab down`` leaves nothing behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.sites import resolve
from orchestrator.events.data import MigrationApproved
from orchestrator.inventory import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.lab import Lab, LabOptions, LabPaths, seed_systems
from orchestrator.lab.topology import ZONE
from orchestrator.migrations import SystemState
from tests.fixtures.orchestrator import (
    govmig_run,
    kafka_settings,
    publish,
    register_and_request,
    system_row,
    wait_for_states,
)
from tests.fixtures.polling import wait_until
from tests.integration.test_platforms_e2e import govmig, platform_node

pytestmark = [pytest.mark.lab, pytest.mark.ansible, pytest.mark.kafka]

INVENTORY = load_inventory()
GUANGZHOU = next(
    s
    for s in load_systems(DEFAULT_CATALOGUE, INVENTORY)
    if s.city == "guangzhou" and not s.depends_on
)
PREFIX = IPv6Network("2001:db8:100::/48")
PHASES_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(LabPaths.under(tmp_path_factory.mktemp("platform") / "lab"), INVENTORY)
    lab.up(LabOptions(nodes=("shantou",), sources=1, disk_mb=64, platforms=("guangzhou",)))
    try:
        yield lab
    finally:
        lab.down()


def lab_cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "orchestrator", "lab", *args, "--lab-dir", str(lab.paths.root)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_status_json_reports_the_platforms_pool_and_prefix(lab: Lab) -> None:
    done = lab_cli(lab, "status", "--output", "json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["platforms"] == [
        {"platform": "guangzhou", "ipv6_prefix": str(PREFIX), "system_ipv4_pool": "10.214.16.0/20"}
    ]
    (host,) = [h for h in status["hosts"] if h["node"] == "guangzhou"]
    assert host == {
        "name": "guangzhou-1",
        "role": "target",
        "node": "guangzhou",
        "ipv4": "10.214.1.1",
        "ipv6": "2001:db8:100:ffff::1",
    }
    hosts = yaml.safe_load(Path(status["inventory"]).read_text())
    assert [h["name"] for h in hosts["nodes"]["guangzhou"]["hosts"]] == ["guangzhou-1"]


def test_a_guangzhou_system_migrates_onto_its_platforms_host_over_ssh(
    lab: Lab, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    (system,) = seed_systems(lab, [GUANGZHOU], size=256 * 1024)
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    options = (
        "--worker", "--provider", "ssh", "--hosts", str(lab.paths.inventory),
        "--artifacts-dir", str(tmp_path / "artifacts"),
    )  # fmt: skip
    with govmig_run(settings, url, tmp_path, *options) as run:
        connect = (
            "platform", "connect", "guangzhou", "--vcpu", "12000", "--memory-gb", "36000",
            "--storage-gb", "1200000", "--ipv6-prefix", str(PREFIX), "--host", "guangzhou-1",
        )  # fmt: skip
        done = govmig(settings, url, *connect)
        assert done.returncode == 0, done.stderr
        wait_until(lambda: platform_node(url) is not None, timeout_s=60, what="the connect")
        register_and_request(settings, [system])
        # A high system: the default policy holds its cutover for another's approval.
        approval = MigrationApproved(system_id=system.id, change_ref="CHG-1", approved_by="bob")
        publish(settings, [approval])
        wait_for_states(url, {system.id: SystemState.COMPLETED}, run, timeout_s=PHASES_TIMEOUT_S)
    row = system_row(url, system.id)
    assert row is not None
    assert (row.node, row.target_host) == ("guangzhou", "guangzhou-1")
    assert row.ipv6_address is not None
    assert IPv6Address(row.ipv6_address) in PREFIX
    assert resolve(system.id, "AAAA") == [row.ipv6_address]
    health = get_health(row.ipv6_address, system.id)
    assert (health["system"], health["location"]) == (system.id, "guangzhou-1")


def get_health(address: str, system_id: str) -> dict[str, Any]:
    """``/health`` of the service at ``address``, asked by its name as a client would."""
    request = urllib.request.Request(f"http://[{address}]:8080/health")
    request.add_header("Host", f"{system_id}.{ZONE}:8080")
    with urllib.request.urlopen(request, timeout=5) as answer:  # the lab's own address
        return dict(json.load(answer))


def test_down_leaves_nothing_behind(lab: Lab) -> None:
    done = lab_cli(lab, "down")
    assert done.returncode == 0, done.stderr
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert "govmig-" not in namespaces.stdout
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True)
    assert "10.214." not in routes.stdout
    assert not lab.paths.root.exists()
