"""The Grafana dashboards, provisioning and Prometheus rules, checked as files (no server).

Every panel reads the ``${datasource}`` variable and has a unit; every metric
a dashboard or a rule names is one the orchestrator exports (or a recording
rule, or ``up``). The queries themselves run against a real Prometheus in
``tests/integration/test_prometheus_metrics.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, load_calendar, load_departments
from orchestrator.observability import build_registry
from orchestrator.store import open_store

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "metrics" / "grafana"
RULES = REPO / "metrics" / "prometheus" / "govmig.rules.yml"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
UNITS = {"short", "decbytes", "percentunit", "s", "ops"}
METRIC = re.compile(r"(?<![\w:])((?:node)?:?govcloud_[a-z0-9_]+(?::[a-z0-9_]+)?)")


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def panels(path: Path) -> list[dict[str, Any]]:
    return [panel for panel in load(path)["panels"] if panel["type"] != "row"]


def ids(path: Path) -> str:
    return path.stem


def test_there_are_the_three_dashboards() -> None:
    assert [path.stem for path in DASHBOARDS] == [
        "govmig-capacity",
        "govmig-pipeline",
        "govmig-progress",
    ]


@pytest.mark.parametrize("path", DASHBOARDS, ids=ids)
def test_dashboard_header(path: Path) -> None:
    board = load(path)
    assert board["schemaVersion"] == 39
    assert board["uid"] == path.stem
    assert board["id"] is None  # provisioned, not tied to one Grafana database
    assert "govmig" in board["tags"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=ids)
def test_datasource_and_node_variables(path: Path) -> None:
    variables = {v["name"]: v for v in load(path)["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    node = variables["node"]
    assert node["definition"] == "label_values(govcloud_node_vcpu_capacity, node)"
    assert node["datasource"] == DATASOURCE
    assert node["includeAll"]
    assert node["allValue"] == ".*"
    assert any('node=~"$node"' in t["expr"] for p in panels(path) for t in p["targets"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=ids)
def test_every_panel_reads_the_datasource_variable_and_has_a_unit(path: Path) -> None:
    for panel in panels(path):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"] in UNITS, panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=ids)
def test_bytes_are_decimal(path: Path) -> None:
    """The plan's 300 TB is 3e14 bytes: ``decbytes``, never the binary ``bytes``."""
    for panel in panels(path):
        exprs = " ".join(t["expr"] for t in panel["targets"])
        if "_bytes" in exprs and "ratio" not in exprs:
            assert panel["fieldConfig"]["defaults"]["unit"] == "decbytes", panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=ids)
def test_layout_ids_are_unique_and_panels_fit(path: Path) -> None:
    every = load(path)["panels"]
    assert len({p["id"] for p in every}) == len(every)
    for panel in every:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def exported_names(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def recorded_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def referenced(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC.findall(expr)}


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    path = tmp_path_factory.mktemp("store") / "govmig.db"
    with open_store(f"sqlite:///{path}") as store:
        # With the sample calendar, so its windows' and freezes' families are exported too.
        calendar = load_calendar(DEFAULT_INVENTORY_ROOT / "calendar.yml", load_departments())
        registry = build_registry(store, process=False, calendar=calendar).registry
        return exported_names(registry) | recorded_names()


@pytest.mark.parametrize("path", DASHBOARDS, ids=ids)
def test_dashboards_name_only_exported_metrics(path: Path, known: set[str]) -> None:
    exprs = [t["expr"] for p in panels(path) for t in p["targets"]]
    assert referenced(exprs) - known == set()


def test_rules_name_only_exported_metrics(known: set[str]) -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    assert referenced(exprs) - known == set()
    assert len(referenced(exprs)) > 20


def test_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    provisioning = GRAFANA / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "govmig.yml").read_text())
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((provisioning / "dashboards" / "govmig.yml").read_text())
    assert [p["type"] for p in providers["providers"]] == ["file"]
