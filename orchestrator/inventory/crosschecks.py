"""Checks across the inventory's records, run once each record is valid on its own.

They hold the plan to its word: 21 cities, 14 city nodes in the ``city_node``
cities, 7 platforms in the ``prd_platform`` cities, and node capacities that sum
exactly to 100,000 vCPU, 300,000 GB memory and 10,000,000 GB storage. Pure:
each check returns the problems it found.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from itertools import combinations

from orchestrator.inventory.models import City, Node, Platform
from orchestrator.inventory.plan import (
    PLAN_CITIES,
    PLAN_MEMORY_GB,
    PLAN_NODES,
    PLAN_PLATFORMS,
    PLAN_STORAGE_GB,
    PLAN_VCPU,
)
from orchestrator.inventory.problems import Problem, show

RESOURCES = ("vcpu", "memory_gb", "storage_gb")
PLAN_TOTALS = {"vcpu": PLAN_VCPU, "memory_gb": PLAN_MEMORY_GB, "storage_gb": PLAN_STORAGE_GB}
_NODES = "city_nodes"
_PLATFORMS = "prd_platforms"


def check_inventory(
    cities: Mapping[str, City],
    nodes: Mapping[str, Node],
    platforms: Mapping[str, Platform],
    *,
    source: str,
) -> list[Problem]:
    """Every problem across cities, nodes and platforms, in a stable order."""
    return [
        *_counts(cities, nodes, platforms, source),
        *_placement(nodes, cities, "city_node", source),
        *_placement(platforms, cities, "prd_platform", source),
        *_coverage(cities, nodes, "city_node", _NODES, source),
        *_coverage(cities, platforms, "prd_platform", _PLATFORMS, source),
        *(
            Problem(
                source,
                f"is in both {_NODES} and {_PLATFORMS}; Ansible would merge them",
                f"host {show(host)}",
            )
            for host in nodes.keys() & platforms.keys()
        ),
        *_reserved(nodes, source),
        *_ipv6(nodes, source),
        *_totals(nodes, source),
    ]


def _counts(
    cities: Mapping[str, City],
    nodes: Mapping[str, Node],
    platforms: Mapping[str, Platform],
    source: str,
) -> Iterator[Problem]:
    expected = (
        ("all.vars.govmig_cities", "cities", len(cities), PLAN_CITIES),
        (f"all.children.{_NODES}.hosts", "city nodes", len(nodes), PLAN_NODES),
        (f"all.children.{_PLATFORMS}.hosts", "PRD platforms", len(platforms), PLAN_PLATFORMS),
    )
    for where, what, found, wanted in expected:
        if found != wanted:
            yield Problem(source, f"expected {wanted} {what}, found {found}", field=where)


def _placement(
    records: Mapping[str, Node] | Mapping[str, Platform],
    cities: Mapping[str, City],
    cloud: str,
    source: str,
) -> Iterator[Problem]:
    """Each node (platform) stands in its own known ``city_node`` (``prd_platform``) city."""
    seen: dict[str, str] = {}
    for host, record in records.items():
        label = f"host {show(host)}"
        city = cities.get(record.city)
        if city is None:
            yield Problem(source, f"unknown city {show(record.city)}", label, "city")
        elif city.cloud != cloud:
            message = f"city {record.city!r} is a {city.cloud} city, not a {cloud} city"
            yield Problem(source, message, label, "city")
        elif record.city in seen:
            message = f"city {record.city!r} already has host {seen[record.city]!r}"
            yield Problem(source, message, label, "city")
        seen.setdefault(record.city, host)


def _coverage(
    cities: Mapping[str, City],
    records: Mapping[str, Node] | Mapping[str, Platform],
    cloud: str,
    group: str,
    source: str,
) -> Iterator[Problem]:
    """Every ``city_node`` (``prd_platform``) city has its node (platform)."""
    covered = {record.city for record in records.values()}
    for city in cities.values():
        if city.cloud == cloud and city.id not in covered:
            message = f"is a {cloud} city, but no host in {group} stands in it"
            yield Problem(source, message, f"city {city.id!r}", "cloud")


def _reserved(nodes: Mapping[str, Node], source: str) -> Iterator[Problem]:
    for host, node in nodes.items():
        if node.reserved is None:
            continue
        for resource in RESOURCES:
            held, total = getattr(node.reserved, resource), getattr(node.capacity, resource)
            if held > total:
                message = f"must not exceed capacity.{resource} ({total:,}), got {held:,}"
                yield Problem(source, message, f"host {host!r}", f"reserved.{resource}")


def _ipv6(nodes: Mapping[str, Node], source: str) -> Iterator[Problem]:
    """Each prefix is a real IPv6 network, and no two nodes' prefixes overlap."""
    networks: dict[str, ipaddress.IPv6Network] = {}
    for host, node in nodes.items():
        if node.ipv6_prefix is None:
            continue
        try:
            networks[host] = ipaddress.IPv6Network(node.ipv6_prefix)
        except ValueError:
            message = f"must be an IPv6 network such as '2001:db8:1::/48', got {node.ipv6_prefix!r}"
            yield Problem(source, message, f"host {host!r}", "ipv6_prefix")
    for (first, one), (second, other) in combinations(networks.items(), 2):
        if one.overlaps(other):
            message = f"overlaps host {first!r}'s prefix {one}"
            yield Problem(source, message, f"host {second!r}", "ipv6_prefix")


def _totals(nodes: Mapping[str, Node], source: str) -> Iterator[Problem]:
    """The plan's totals are exact: the nodes' capacities must add up to them, no more, no less."""
    for resource in RESOURCES:
        total = sum(getattr(node.capacity, resource) for node in nodes.values())
        if total != PLAN_TOTALS[resource]:
            message = (
                f"sums to {total:,} over the nodes; the plan total is {PLAN_TOTALS[resource]:,}"
            )
            yield Problem(source, message, _NODES, f"capacity.{resource}")
