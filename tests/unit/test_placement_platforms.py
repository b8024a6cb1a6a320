"""Placement onto a connected PRD platform: its own city's systems only, own city first."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.capacity import (
    NodeKind,
    NodeUsage,
    Placement,
    PlacementPolicy,
    Unplaceable,
    place_group,
    place_on_target,
    place_system,
)
from orchestrator.capacity.planning import plan_placements
from orchestrator.inventory.residency import Residency
from tests.unit.test_placement import POLICIES, SPREAD, fleet, node, system


def platform(platform_id: str, **changes: object) -> NodeUsage:
    usage = node(platform_id, **changes)  # type: ignore[arg-type]
    return replace(usage, node=replace(usage.node, kind=NodeKind.PLATFORM))


TARGETS = fleet(node("shantou"), node("heyuan", vcpu=1_000), platform("guangzhou"))


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.strategy)
def test_a_prd_system_goes_to_its_own_citys_platform(policy: PlacementPolicy) -> None:
    outcome = place_system(system("gz-1", "guangzhou"), TARGETS, policy)
    assert outcome == Placement("gz-1", "guangzhou", "own city platform")


@pytest.mark.parametrize("city", ["shantou", "foshan", "meizhou"])
def test_no_other_citys_system_ever_lands_on_a_platform(city: str) -> None:
    big = fleet(node("shantou", used=(96, 0, 0)), platform("guangzhou", vcpu=100_000))
    outcome = place_system(system("x-1", city), big, SPREAD)
    assert not (isinstance(outcome, Placement) and outcome.node_id == "guangzhou")


def test_a_group_mixing_cities_never_lands_on_a_platform() -> None:
    members = [system("gz-1", "guangzhou"), system("gz-2", "guangzhou"), system("st-1", "shantou")]
    outcomes = place_group(members, TARGETS, SPREAD)
    assert {o.node_id for o in outcomes if isinstance(o, Placement)} <= {"shantou", "heyuan"}


def test_a_full_or_draining_platform_sends_its_city_to_the_nodes() -> None:
    full = fleet(node("heyuan"), platform("guangzhou", used=(100, 0, 0)))
    assert place_system(system("gz-1", "guangzhou"), full, SPREAD) == Placement(
        "gz-1", "heyuan", "spread: best fit"
    )


def test_an_explicit_platform_target_is_refused_to_another_city() -> None:
    outcome = place_on_target(system("st-1", "shantou"), TARGETS, "guangzhou")
    assert outcome == Unplaceable(
        "st-1", "platform guangzhou takes only systems of guangzhou, not of shantou"
    )


def test_residency_to_its_own_city_allows_its_platform() -> None:
    personal = Residency("personal", "in guangzhou", frozenset({"guangzhou"}))
    request = replace(system("gz-1", "guangzhou"), residency=personal)
    outcome = place_system(request, TARGETS, SPREAD)
    assert outcome == Placement(
        "gz-1", "guangzhou", "own city platform, within residency rule 'personal'"
    )


def test_the_plan_places_onto_a_platform_as_the_run_does() -> None:
    systems = [system("gz-1", "guangzhou"), system("st-1", "shantou"), system("gz-2", "guangzhou")]
    result = plan_placements(systems, TARGETS, SPREAD)
    where = {placement.system_id: placement.node_id for placement in result.placements}
    assert where == {"gz-1": "guangzhou", "st-1": "shantou", "gz-2": "guangzhou"}
    assert TARGETS["guangzhou"].used == {}, "the plan works on a copy"
