"""The sample catalogue: committed file equals the generator's output, and looks real.

The file ``inventory/catalogue/systems.yaml`` is regenerated here and compared
byte for byte, so it cannot drift from ``generate_catalogue``.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from orchestrator.inventory.catalogue import (
    DEFAULT_COUNT,
    DEFAULT_SEED,
    generate_catalogue,
    render_catalogue,
)
from orchestrator.inventory.loader import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.inventory.models import BusinessSystem, Criticality
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_STORAGE_GB, PLAN_SYSTEMS, PLAN_VCPU


@pytest.fixture(scope="module")
def catalogue() -> list[BusinessSystem]:
    return generate_catalogue(DEFAULT_COUNT, DEFAULT_SEED)


def test_the_committed_file_is_the_generators_output(catalogue: list[BusinessSystem]) -> None:
    expected = render_catalogue(catalogue, count=DEFAULT_COUNT, seed=DEFAULT_SEED)
    committed = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    assert committed == expected, "run: .venv/bin/python scripts/generate_catalogue.py"


def test_the_committed_file_loads_against_the_inventory(catalogue: list[BusinessSystem]) -> None:
    assert load_systems(DEFAULT_CATALOGUE, load_inventory()) == catalogue


def test_generation_is_deterministic_and_the_seed_matters() -> None:
    assert generate_catalogue(50, 7) == generate_catalogue(50, 7)
    assert generate_catalogue(50, 7) != generate_catalogue(50, 8)


def test_there_are_more_systems_than_the_plan_asks_for(catalogue: list[BusinessSystem]) -> None:
    assert len(catalogue) == DEFAULT_COUNT > PLAN_SYSTEMS
    assert len({s.id for s in catalogue}) == len(catalogue)


def test_systems_come_from_all_21_cities_mostly_node_cities(
    catalogue: list[BusinessSystem],
) -> None:
    inventory = load_inventory()
    cities = Counter(s.city for s in catalogue)
    assert set(cities) == set(inventory.cities)
    from_nodes = sum(n for city, n in cities.items() if inventory.node_for_city(city))
    assert from_nodes > 0.8 * len(catalogue)


def test_sizes_are_skewed_and_within_range(catalogue: list[BusinessSystem]) -> None:
    assert all(2 <= s.vcpu <= 64 for s in catalogue)
    assert all(4 <= s.memory_gb <= 512 for s in catalogue)
    assert all(50 <= s.storage_gb <= 50_000 for s in catalogue)
    storage = sorted(s.storage_gb for s in catalogue)
    median, mean = storage[len(storage) // 2], sum(storage) / len(storage)
    assert mean > 1.5 * median  # a long tail of big systems
    assert len({s.vcpu for s in catalogue}) == 6


def test_total_demand_fits_well_inside_the_plan(catalogue: list[BusinessSystem]) -> None:
    assert sum(s.vcpu for s in catalogue) < 0.2 * PLAN_VCPU
    assert sum(s.memory_gb for s in catalogue) < 0.2 * PLAN_MEMORY_GB
    assert sum(s.storage_gb for s in catalogue) < 0.2 * PLAN_STORAGE_GB


def test_dependency_groups_are_small_local_and_point_backwards(
    catalogue: list[BusinessSystem],
) -> None:
    position = {s.id: i for i, s in enumerate(catalogue)}
    by_id = {s.id: s for s in catalogue}
    groups: defaultdict[str, set[str]] = defaultdict(set)
    for system in catalogue:
        for target in system.depends_on:
            assert position[target] < position[system.id]
            base = by_id[target]
            assert (base.city, base.department) == (system.city, system.department)
        if system.depends_on:
            groups[system.depends_on[0]].add(system.id)
    assert groups, "the catalogue has dependency groups"
    assert all(1 <= len(members) <= 4 for members in groups.values())
    assert any(len(members) >= 3 for members in groups.values())


def test_a_base_is_at_least_as_critical_as_what_depends_on_it(
    catalogue: list[BusinessSystem],
) -> None:
    order = list(Criticality)
    by_id = {s.id: s for s in catalogue}
    for system in catalogue:
        for target in system.depends_on[:1]:
            assert order.index(by_id[target].criticality) >= order.index(system.criticality)
    assert set(Counter(s.criticality for s in catalogue)) == set(Criticality)


def test_records_look_like_government_systems(catalogue: list[BusinessSystem]) -> None:
    departments = {s.department for s in catalogue}
    assert "Public Security Bureau (公安局)" in departments
    assert "Government Services and Data Administration (政务服务数据管理局)" in departments
    assert len(departments) >= 15
    first = catalogue[0]
    assert first.source.host == f"src-{first.id}.gov.local"
    assert first.name.startswith("Shantou ")
    assert any(s.source.city != s.city for s in catalogue)


def test_ten_thousand_systems_each_have_their_own_id() -> None:
    systems = generate_catalogue(10_000, DEFAULT_SEED)
    assert len({s.id for s in systems}) == 10_000


@pytest.mark.parametrize("count", [0, 1, 2], ids=["none", "one", "two"])
def test_tiny_catalogues(count: int) -> None:
    assert len(generate_catalogue(count, 1)) == count


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        generate_catalogue(-1, 1)
