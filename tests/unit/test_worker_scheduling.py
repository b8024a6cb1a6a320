"""The phase worker's pure decisions: batching, admission, cancellation, targets, faults."""

from __future__ import annotations

import ipaddress

import pytest

from orchestrator.capacity import NodeState, NodeUsage, ResourceClass, ResourceInventory
from orchestrator.errors import ConfigurationError
from orchestrator.execution import FaultPlan, HostOutcome
from orchestrator.migrations import Phase, PhaseFailed, PhaseSucceeded, SystemState
from orchestrator.worker.outcomes import cause_for
from orchestrator.worker.scheduling import (
    Batch,
    Limits,
    Ready,
    admit,
    plan_batches,
    stopped_batches,
)
from orchestrator.worker.targets import free_on_node, ipv6_address

P = Phase
S = SystemState
LIMITS = Limits(batch_size=3, batch_window_s=0.5, node_concurrency=2, max_batches=3)


def under_way(per_node: dict[str, int]) -> list[Batch]:
    """One running batch per count, each on one node."""
    return [
        Batch(P.PROVISION, (f"{node}-{i}",), (node,))
        for node, count in per_node.items()
        for i in range(count)
    ]


def ready(
    system_id: str,
    node: str = "shantou",
    phase: Phase = P.PREFLIGHT,
    *,
    wave: int | None = 1,
    place: str = "",
) -> Ready:
    return Ready(system_id, node, phase, wave, 0.0, place)


@pytest.mark.parametrize(
    ("items", "running", "now", "expected"),
    [
        ([ready("a"), ready("b")], {}, 0.2, []),
        ([ready("a"), ready("b")], {}, 0.5, [(P.PREFLIGHT, ("a", "b"), ("shantou",))]),
        (
            [ready("a"), ready("b"), ready("c"), ready("d")],
            {},
            0.1,
            [(P.PREFLIGHT, ("a", "b", "c"), ("shantou",))],
        ),
        (
            [ready("a"), ready("b"), ready("c"), ready("d")],
            {},
            1.0,
            [(P.PREFLIGHT, ("a", "b", "c"), ("shantou",)), (P.PREFLIGHT, ("d",), ("shantou",))],
        ),
        (
            [ready("a"), ready("b", "huizhou"), ready("c", phase=P.PROVISION)],
            {},
            1.0,
            [
                (P.PREFLIGHT, ("a", "b"), ("huizhou", "shantou")),
                (P.PROVISION, ("c",), ("shantou",)),
            ],
        ),
        (
            [ready("a"), ready("b", "huizhou", place="execution host h1")],
            {},
            1.0,
            [(P.PREFLIGHT, ("a",), ("shantou",)), (P.PREFLIGHT, ("b",), ("huizhou",))],
        ),
        (
            [ready("a"), ready("b", "huizhou")],
            {"shantou": 2},
            1.0,
            [(P.PREFLIGHT, ("b",), ("huizhou",))],
        ),
        (
            [ready("a"), ready("b"), ready("c", "huizhou")],
            {"shantou": 1},
            1.0,
            [(P.PREFLIGHT, ("a", "b", "c"), ("huizhou", "shantou"))],
        ),
        ([ready("a"), ready("b", "huizhou")], {"shantou": 1, "yunfu": 2}, 1.0, []),
        (
            [
                ready("late", "huizhou", wave=2, place="execution host h1"),
                ready("early", "yunfu", wave=1),
            ],
            {"shantou": 2},
            1.0,
            [(P.PREFLIGHT, ("early",), ("yunfu",))],
        ),
        (
            [ready("z", wave=1), ready("a", wave=2), ready("m", wave=None), ready("b", wave=1)],
            {},
            1.0,
            [(P.PREFLIGHT, ("b", "z", "a"), ("shantou",)), (P.PREFLIGHT, ("m",), ("shantou",))],
        ),
    ],
    ids=[
        "window-not-over",
        "window-over",
        "full-batch-goes-at-once",
        "overflow-becomes-a-second-batch",
        "one-batch-per-phase-across-nodes-run-from-here",
        "one-batch-per-place",
        "node-at-its-limit-waits",
        "a-node-takes-part-in-one-more-batch",
        "process-at-its-limit-waits",
        "lower-wave-first-when-one-slot-is-left",
        "lower-waves-fill-the-first-batch",
    ],
)
def test_plan_batches(
    items: list[Ready],
    running: dict[str, int],
    now: float,
    expected: list[tuple[Phase, tuple[str, ...], tuple[str, ...]]],
) -> None:
    got = plan_batches(items, running=under_way(running), limits=LIMITS, now=now)
    assert sorted((b.phase, b.system_ids, b.nodes) for b in got) == sorted(expected)


def test_a_node_at_its_limit_waits_while_others_of_its_place_go() -> None:
    items = [ready("a"), ready("b", "huizhou"), ready("c", "yunfu")]
    got = plan_batches(items, running=under_way({"shantou": 2}), limits=LIMITS, now=1.0)
    assert [(b.system_ids, b.nodes) for b in got] == [(("b", "c"), ("huizhou", "yunfu"))]


def test_a_batch_spanning_many_nodes_counts_once_against_the_process_limit() -> None:
    spanning = Batch(P.PREFLIGHT, ("a", "b", "c"), ("huizhou", "shantou", "yunfu"))
    items = [ready("d", "zhanjiang", P.PROVISION), ready("e", "maoming", P.PROVISION)]
    got = plan_batches(items, running=[spanning], limits=LIMITS, now=1.0)
    assert [(b.phase, b.system_ids) for b in got] == [(P.PROVISION, ("d", "e"))]


@pytest.mark.parametrize(
    ("placed", "in_flight", "expected"),
    [
        ([("a", 1), ("b", 1)], 0, ["a", "b"]),
        ([("c", 2), ("a", 1), ("n", None), ("b", 1)], 0, ["a", "b", "c", "n"]),
        ([("c", 2), ("a", 1), ("b", 1)], 7, ["a", "b"]),
        ([("a", 1)], 9, []),
        ([("a", 1)], 12, []),
    ],
    ids=["room-for-all", "wave-order-none-last", "room-for-two", "full", "over-full"],
)
def test_admit_starts_lower_waves_while_there_is_room(
    placed: list[tuple[str, int | None]], in_flight: int, expected: list[str]
) -> None:
    assert admit(placed, in_flight=in_flight, limits=LIMITS) == expected


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"a": S.PREFLIGHT, "b": S.PREFLIGHT}, []),
        ({"a": S.ROLLING_BACK, "b": S.PREFLIGHT}, []),
        ({"a": S.ROLLING_BACK, "b": S.ROLLED_BACK}, ["k"]),
        ({"a": S.ROLLING_BACK}, ["k"]),
    ],
    ids=["all-running", "one-stopped", "all-stopped", "one-gone"],
)
def test_a_batch_is_cancelled_only_when_every_system_left_its_phase(
    states: dict[str, SystemState], expected: list[str]
) -> None:
    running = {"k": Batch(P.PREFLIGHT, ("a", "b"), ("shantou",))}
    assert stopped_batches(running, states) == expected


@pytest.mark.parametrize(
    ("prefix", "index", "expected"),
    [
        ("2001:db8:1::/48", 1, "2001:db8:1::1"),
        ("2001:db8:a::/48", 26, "2001:db8:a::1a"),
        ("2001:0db8:0001:0000::/64", 0xFFFF, "2001:db8:1::ffff"),
    ],
    ids=["first", "hex", "non-canonical-prefix"],
)
def test_ipv6_address_matches_the_playbooks(prefix: str, index: int, expected: str) -> None:
    address = ipv6_address(prefix, index)
    assert address == expected
    assert ipaddress.IPv6Address(address) in ipaddress.IPv6Network(prefix)


def test_free_on_node_counts_the_systems_own_reservation() -> None:
    totals = {ResourceClass.VCPU: 100, ResourceClass.MEMORY_GB: 400, ResourceClass.STORAGE_GB: 1000}
    node = NodeState(
        node_id="shantou",
        city="shantou",
        inventories={r: ResourceInventory(total=t) for r, t in totals.items()},
    )
    own: dict[str, int] = {
        ResourceClass.VCPU: 8,
        ResourceClass.MEMORY_GB: 32,
        ResourceClass.STORAGE_GB: 100,
    }
    other: dict[str, int] = {
        ResourceClass.VCPU: 90,
        ResourceClass.MEMORY_GB: 300,
        ResourceClass.STORAGE_GB: 900,
    }
    used = {r: own[r] + other[r] for r in own}
    usage = NodeUsage(node=node, used=used, allocations={"me": own, "other": other})
    assert free_on_node(usage, "me") == {
        ResourceClass.VCPU: 10,
        ResourceClass.MEMORY_GB: 100,
        ResourceClass.STORAGE_GB: 100,
    }


def test_a_fault_fires_once_for_its_system_and_phase() -> None:
    plan = FaultPlan.parse("a:replicate, b:cutover")
    assert plan.take("a", P.PREFLIGHT) is None
    assert plan.take("a", P.REPLICATE) is P.REPLICATE
    assert plan.take("a", P.REPLICATE) is None
    assert plan.take("b", P.CUTOVER) is P.CUTOVER
    assert plan.take("c", P.CUTOVER) is None


@pytest.mark.parametrize(
    "text", ["a:teleport", "a", ":cutover-ish"], ids=["phase", "no-phase", "junk"]
)
def test_a_bad_fault_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="system:phase"):
        FaultPlan.parse(text)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (HostOutcome("a", ok=True), PhaseSucceeded(P.VERIFY)),
        (
            HostOutcome("a", ok=False, failed_task="Check it", message="it broke"),
            PhaseFailed(P.VERIFY, "Check it", "it broke"),
        ),
        (
            HostOutcome("a", ok=False),
            PhaseFailed(P.VERIFY, "(no task reported)", "the playbook failed"),
        ),
    ],
    ids=["ok", "failed-task", "no-detail"],
)
def test_outcomes_become_causes(outcome: HostOutcome, expected: object) -> None:
    assert cause_for(P.VERIFY, outcome) == expected


@pytest.mark.parametrize(
    "limits",
    [{"batch_size": 0}, {"node_concurrency": 0}, {"max_batches": 0}, {"batch_window_s": -1}],
    ids=["batch", "node", "process", "window"],
)
def test_limits_must_make_sense(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Limits(**limits)  # type: ignore[arg-type]
