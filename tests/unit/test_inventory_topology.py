"""load_inventory: the real hosts.yml against the plan, and each cross-check's rejection.

Rejections start from the real file, change one thing, and write the result to
tmp_path, so each case shows exactly which edit the loader refuses and how it
words the problem.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, HOSTS_FILE, load_inventory
from orchestrator.inventory.models import GB
from orchestrator.inventory.plan import (
    PLAN_MEMORY_BYTES,
    PLAN_MEMORY_GB,
    PLAN_NODES,
    PLAN_PLATFORMS,
    PLAN_STORAGE_BYTES,
    PLAN_STORAGE_GB,
    PLAN_SYSTEMS,
    PLAN_VCPU,
)

NODE_CITIES = {
    "shantou", "shaoguan", "heyuan", "meizhou", "huizhou", "shanwei", "yangjiang",
    "zhanjiang", "maoming", "zhaoqing", "qingyuan", "chaozhou", "jieyang", "yunfu",
}  # fmt: skip
PRD_CITIES = {"guangzhou", "shenzhen", "zhuhai", "foshan", "dongguan", "zhongshan", "jiangmen"}

Document = dict[str, Any]


def test_plan_constants_are_the_plans_decimal_totals() -> None:
    assert (PLAN_VCPU, PLAN_SYSTEMS, PLAN_NODES, PLAN_PLATFORMS) == (100_000, 500, 14, 7)
    assert PLAN_MEMORY_BYTES == 300 * 10**12 == PLAN_MEMORY_GB * GB
    assert PLAN_STORAGE_BYTES == 10 * 10**15 == PLAN_STORAGE_GB * GB


def test_node_capacities_sum_exactly_to_the_plan_totals() -> None:
    nodes = load_inventory().nodes.values()
    assert sum(n.capacity.vcpu for n in nodes) == 100_000
    assert sum(n.capacity.memory_gb for n in nodes) * GB == 300 * 10**12
    assert sum(n.capacity.storage_gb for n in nodes) * GB == 10 * 10**15


def test_the_split_is_14_node_cities_and_7_prd_platforms() -> None:
    inventory = load_inventory()
    assert len(inventory.cities) == 21
    assert {n.city for n in inventory.nodes.values()} == set(inventory.nodes) == NODE_CITIES
    assert {p.city for p in inventory.platforms.values()} == PRD_CITIES
    assert {c.id for c in inventory.cities.values() if c.cloud == "city_node"} == NODE_CITIES
    assert inventory.cities["shantou"].name_zh == "汕头市"
    assert all(c.name_zh.endswith("市") for c in inventory.cities.values())


def test_nodes_are_sized_by_city() -> None:
    vcpu = {n.id: n.capacity.vcpu for n in load_inventory().nodes.values()}
    big = min(vcpu["huizhou"], vcpu["shantou"], vcpu["zhanjiang"])
    assert big > max(vcpu["yunfu"], vcpu["shanwei"], vcpu["chaozhou"])


def test_every_node_has_its_own_documentation_range_ipv6_prefix() -> None:
    nodes = load_inventory().nodes.values()
    prefixes = [ipaddress.IPv6Network(n.ipv6_prefix or "") for n in nodes]
    assert len(set(prefixes)) == 14
    assert all(p.prefixlen == 48 for p in prefixes)
    assert all(p.subnet_of(ipaddress.IPv6Network("2001:db8::/32")) for p in prefixes)


def test_reserved_is_within_capacity_and_ratios_default_to_one() -> None:
    for node in load_inventory().nodes.values():
        assert node.reserved is not None
        assert node.reserved.vcpu < node.capacity.vcpu
        assert node.allocation_ratio_vcpu == node.allocation_ratio_storage == 1.0


@pytest.mark.parametrize(
    ("city", "node"),
    [("shantou", "shantou"), ("yunfu", "yunfu"), ("guangzhou", None), ("atlantis", None)],
    ids=["node-city", "small-node-city", "prd-city", "unknown"],
)
def test_node_for_city(city: str, node: str | None) -> None:
    found = load_inventory().node_for_city(city)
    assert (found.id if found else None) == node


def test_platform_for_city_and_city_of_node() -> None:
    inventory = load_inventory()
    platform = inventory.platform_for_city("shenzhen")
    assert platform is not None
    assert "深圳" in platform.name
    assert inventory.platform_for_city("shantou") is None
    assert inventory.city_of("zhanjiang").name == "Zhanjiang"


def test_the_inventory_cannot_be_changed() -> None:
    inventory = load_inventory()
    with pytest.raises(dataclasses.FrozenInstanceError):
        inventory.nodes = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        inventory.nodes["x"] = inventory.nodes["shantou"]  # type: ignore[index]


def real_document() -> Document:
    loaded = yaml.safe_load((DEFAULT_INVENTORY_ROOT / HOSTS_FILE).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def nodes_of(doc: Document) -> dict[str, Any]:
    hosts: dict[str, Any] = doc["all"]["children"]["city_nodes"]["hosts"]
    return hosts


def platforms_of(doc: Document) -> dict[str, Any]:
    hosts: dict[str, Any] = doc["all"]["children"]["prd_platforms"]["hosts"]
    return hosts


def load_edited(tmp_path: Path, edit: Callable[[Document], object]) -> Path:
    doc = real_document()
    edit(doc)
    (tmp_path / HOSTS_FILE).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return tmp_path / HOSTS_FILE


def set_in(mapping: dict[str, Any], *path_and_value: Any) -> None:
    *path, key, value = path_and_value
    for part in path:
        mapping = mapping[part]
    mapping[key] = value


# (edit of the real document, a line the error must contain after "<path>: ")
REJECTIONS: list[tuple[Callable[[Document], object], str]] = [
    (
        lambda d: set_in(nodes_of(d), "shantou", "city", "guangzhou"),
        "host 'shantou': field 'city': city 'guangzhou' is a prd_platform city, "
        "not a city_node city",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "city", "guangzhou"),
        "city 'shantou': field 'cloud': is a city_node city, "
        "but no host in city_nodes stands in it",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "city", "atlantis"),
        "host 'shantou': field 'city': unknown city 'atlantis'",
    ),
    (
        lambda d: set_in(nodes_of(d), "yunfu", "city", "jieyang"),
        "host 'yunfu': field 'city': city 'jieyang' already has host 'jieyang'",
    ),
    (
        lambda d: nodes_of(d).pop("yunfu"),
        "field 'all.children.city_nodes.hosts': expected 14 city nodes, found 13",
    ),
    (
        lambda d: platforms_of(d).pop("zhuhai"),
        "field 'all.children.prd_platforms.hosts': expected 7 PRD platforms, found 6",
    ),
    (
        lambda d: d["all"]["vars"]["govmig_cities"].pop("zhuhai"),
        "field 'all.vars.govmig_cities': expected 21 cities, found 20",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "capacity", "vcpu", 10_001),
        "city_nodes: field 'capacity.vcpu': sums to 100,001 over the nodes; "
        "the plan total is 100,000",
    ),
    (
        lambda d: set_in(nodes_of(d), "yunfu", "capacity", "memory_gb", 14_999),
        "city_nodes: field 'capacity.memory_gb': sums to 299,999",
    ),
    (
        lambda d: set_in(nodes_of(d), "yunfu", "capacity", "storage_gb", 500_000),
        "city_nodes: field 'capacity.storage_gb': sums to 10,010,000",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "capacity", "vcpu", -1),
        "host 'shantou': field 'capacity.vcpu': must be greater than 0, got -1",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "capacity", "vcpu", "lots"),
        "host 'shantou': field 'capacity.vcpu': must be a whole number, got 'lots'",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "reserved", "vcpu", 20_000),
        "host 'shantou': field 'reserved.vcpu': must not exceed capacity.vcpu (10,000)",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "ipv6_prefix", "not-an-ip"),
        "host 'shantou': field 'ipv6_prefix': must be an IPv6 network",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "ipv6_prefix", "2001:db8:1::1/48"),
        "host 'shantou': field 'ipv6_prefix': must be an IPv6 network",
    ),
    (
        lambda d: set_in(nodes_of(d), "yunfu", "ipv6_prefix", "2001:db8::/32"),
        "host 'yunfu': field 'ipv6_prefix': overlaps host 'shantou'",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "colour", "red"),
        "host 'shantou': field 'colour': unknown field",
    ),
    (
        lambda d: set_in(nodes_of(d), "shantou", "id", "other"),
        "host 'shantou': field 'id': remove it",
    ),
    (
        lambda d: set_in(d, "all", "children", "city_nodes", "vars", "allocation_ratio_vcpu", 0),
        "host 'shantou': field 'allocation_ratio_vcpu': must be greater than 0",
    ),
    (
        lambda d: set_in(platforms_of(d), "guangzhou", {"city": "guangzhou", "name": "GZ"}),
        "host 'guangzhou': field 'name': write 'platform_name': Ansible reserves 'name'",
    ),
    (
        lambda d: set_in(platforms_of(d), "guangzhou", {"city": "guangzhou"}),
        "host 'guangzhou': field 'platform_name': is required",
    ),
    (
        lambda d: set_in(platforms_of(d), "shantou", {"city": "shantou", "platform_name": "X"}),
        "host 'shantou': is in both city_nodes and prd_platforms",
    ),
    (
        lambda d: set_in(d, "all", "vars", "govmig_cities", "shantou", "cloud", "hybrid"),
        "city 'shantou': field 'cloud': must match pattern",
    ),
    (
        lambda d: set_in(d, "all", "vars", "govmig_cities", "shantou", "name_zh", ""),
        "city 'shantou': field 'name_zh': must have at least 1 character",
    ),
    (
        lambda d: set_in(d, "all", "children", ["city_nodes"]),
        "field 'all.children': must be a mapping",
    ),
    (lambda d: d.pop("all"), "field 'all.children.city_nodes.hosts': expected 14 city nodes"),
    (
        lambda d: set_in(d, "all", "vars", "allocation_ratio_vcpu", 2.0),
        "all.vars: field 'allocation_ratio_vcpu': only 'govmig_cities' and ansible_* vars",
    ),
    (
        lambda d: set_in(d, "all", "vars", "govmig_cities", "shantou", "汕头"),
        "city 'shantou': must be a mapping of fields",
    ),
]


@pytest.mark.parametrize(
    ("edit", "line"),
    REJECTIONS,
    ids=[
        "node-in-prd-city",
        "node-city-left-without-node",
        "node-in-unknown-city",
        "two-nodes-in-one-city",
        "13-nodes",
        "6-platforms",
        "20-cities",
        "vcpu-sum-off",
        "memory-sum-off",
        "storage-sum-off",
        "negative-capacity",
        "text-capacity",
        "reserved-over-capacity",
        "ipv6-not-an-address",
        "ipv6-host-bits-set",
        "ipv6-overlap",
        "unknown-node-var",
        "id-var",
        "bad-group-var",
        "platform-name-var",
        "platform-without-name",
        "host-in-both-groups",
        "unknown-cloud",
        "empty-chinese-name",
        "children-not-a-mapping",
        "no-all-group",
        "stray-all-var",
        "city-not-a-mapping",
    ],
)
def test_an_inconsistent_inventory_is_rejected(
    tmp_path: Path, edit: Callable[[Document], object], line: str
) -> None:
    path = load_edited(tmp_path, edit)
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path)
    lines = str(caught.value).splitlines()
    assert any(problem.startswith(f"{path}: {line}") for problem in lines), lines


def test_group_vars_apply_unless_a_host_overrides_them(tmp_path: Path) -> None:
    def edit(doc: Document) -> None:
        set_in(doc, "all", "children", "city_nodes", "vars", "allocation_ratio_vcpu", 2.0)
        set_in(nodes_of(doc), "yunfu", "allocation_ratio_vcpu", 4.0)
        set_in(nodes_of(doc), "yunfu", "ansible_host", "127.0.0.1")

    load_edited(tmp_path, edit)
    nodes = load_inventory(tmp_path).nodes
    assert nodes["shantou"].allocation_ratio_vcpu == 2.0
    assert nodes["yunfu"].allocation_ratio_vcpu == 4.0


def test_reserved_may_be_omitted(tmp_path: Path) -> None:
    load_edited(tmp_path, lambda d: nodes_of(d)["yunfu"].pop("reserved"))
    assert load_inventory(tmp_path).nodes["yunfu"].reserved is None


def test_a_missing_inventory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"hosts\.yml: file not found$"):
        load_inventory(tmp_path)
