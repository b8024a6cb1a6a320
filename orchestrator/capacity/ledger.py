"""Capacity arithmetic for the city nodes, after the OpenStack Placement model.

Pure functions over immutable values: the store (``orchestrator.store``)
persists each ``NodeUsage`` and writes a new one only if the ``generation`` it
read is still current (compare-and-swap), which is how several orchestrator
instances share one ledger without over-committing. Placement
(``orchestrator.capacity.placement``) uses the same checks for its dry runs.

Per node and resource class a ``ResourceInventory`` says how much may be allocated::

    capacity = floor((total - reserved) * allocation_ratio)

and an allocation of ``amount`` fits when ``min_unit <= amount <= max_unit``,
``amount % step_size == 0`` and ``used + amount <= capacity``. A system's
request covers vCPU, memory and storage (decimal GB) together: all or nothing.
A node that is ``draining`` or ``offline`` takes no new allocations but keeps
the ones it has, and a capacity cut below what is used never evicts anyone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from orchestrator.capacity.resources import ResourceClass, Resources
from orchestrator.errors import InventoryError, PermanentError
from orchestrator.inventory.models import Node


class NodeStatus(StrEnum):
    """Whether a node takes new allocations; existing ones are never broken."""

    ONLINE = "online"
    DRAINING = "draining"
    OFFLINE = "offline"


class NodeKind(StrEnum):
    """What a ledger target is: one of the 14 city nodes, or a connected PRD platform.

    Both share the ledger's rules; only nodes count toward the plan's totals, and a
    platform takes only its own city's systems (``placement``).
    """

    NODE = "node"
    PLATFORM = "platform"


# How people read each resource: "lacks storage by 1,200 GB".
_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        ResourceClass.VCPU: ("vCPU", ""),
        ResourceClass.MEMORY_GB: ("memory", " GB"),
        ResourceClass.STORAGE_GB: ("storage", " GB"),
    }
)

# A request: resource class name -> amount, e.g. {"VCPU": 8, "MEMORY_GB": 32, ...}.
Amounts = Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ResourceInventory:
    """One resource class on one node; ``max_unit`` ``None`` means ``total``."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: int | None = None
    step_size: int = 1
    # The largest single allocation allowed: ``max_unit``, or ``total`` when unset.
    upper_unit: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        upper = self.total if self.max_unit is None else self.max_unit
        object.__setattr__(self, "upper_unit", upper)
        problem = _inventory_problem(self)
        if problem:
            raise ValueError(problem)


def _inventory_problem(inv: ResourceInventory) -> str | None:
    if inv.total < 0 or not 0 <= inv.reserved <= inv.total:
        return f"need 0 <= reserved <= total, got reserved {inv.reserved} of total {inv.total}"
    if not (inv.allocation_ratio > 0 and math.isfinite(inv.allocation_ratio)):
        return f"allocation_ratio must be a positive number, got {inv.allocation_ratio}"
    if inv.min_unit < 1 or inv.step_size < 1 or inv.upper_unit < inv.min_unit:
        return (
            f"need 1 <= min_unit <= max_unit and step_size >= 1, got min_unit {inv.min_unit}, "
            f"max_unit {inv.upper_unit}, step_size {inv.step_size}"
        )
    return None


def capacity(inv: ResourceInventory) -> int:
    """How much of ``inv`` may be allocated in total."""
    # The ratio is read as the decimal it was written as (1.1, not 1.100000000000000088...),
    # so floor() never loses a unit to binary rounding.
    return math.floor((inv.total - inv.reserved) * Fraction(repr(inv.allocation_ratio)))


@dataclass(frozen=True, slots=True)
class NodeState:
    """A node's inventories and status: what it offers, not what is used."""

    node_id: str
    city: str
    inventories: Mapping[str, ResourceInventory]
    status: NodeStatus = NodeStatus.ONLINE
    kind: NodeKind = NodeKind.NODE
    # Derived once here, because placement reads them for every candidate node.
    capacities: Mapping[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # A plain dict, not a read-only proxy: it is read in placement's hot loop.
        caps = {rc: capacity(inv) for rc, inv in self.inventories.items()}
        object.__setattr__(self, "capacities", caps)


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """A node's ledger row: its state, what each consumer holds, and a generation.

    Never mutated: ``allocate``, ``deallocate`` and ``update_node`` return a new
    value with ``generation + 1``, which the store writes only if the row still
    has the generation it read.
    """

    node: NodeState
    used: Mapping[str, int] = field(default_factory=dict)
    allocations: Mapping[str, Amounts] = field(default_factory=dict)
    generation: int = 0

    def free(self, resource: str) -> int:
        """Capacity left for ``resource`` (negative after a capacity cut)."""
        return self.node.capacities.get(resource, 0) - self.used.get(resource, 0)

    def utilisation(self, resource: str) -> float:
        """Used over capacity, 0..1 (above 1 only after a capacity cut)."""
        cap = self.node.capacities.get(resource, 0)
        return self.used.get(resource, 0) / cap if cap > 0 else 1.0


class ShortfallKind(StrEnum):
    """Why an allocation does not fit."""

    NOT_ONLINE = "not_online"
    UNKNOWN_RESOURCE = "unknown_resource"
    BELOW_MIN_UNIT = "below_min_unit"
    ABOVE_MAX_UNIT = "above_max_unit"
    NOT_A_STEP = "not_a_step"
    INSUFFICIENT = "insufficient"


@dataclass(frozen=True, slots=True)
class CapacityShortfall:
    """Why a request does not fit a node; ``message`` is the line an operator reads.

    ``amount`` is the shortfall for ``INSUFFICIENT`` and the requested amount for
    the unit checks, whose bound is ``limit``.
    """

    node_id: str
    kind: ShortfallKind
    resource: str = ""
    amount: int = 0
    limit: int = 0
    status: NodeStatus = NodeStatus.ONLINE

    @property
    def message(self) -> str:
        """E.g. ``node shaoguan lacks storage by 1,200 GB``."""
        label, unit = _LABELS.get(self.resource, (self.resource, ""))
        node, amount, limit = f"node {self.node_id}", f"{self.amount:,}{unit}", f"{self.limit:,}"
        texts = {
            ShortfallKind.NOT_ONLINE: f"{node} is {self.status}",
            ShortfallKind.UNKNOWN_RESOURCE: f"{node} has no {label} inventory",
            ShortfallKind.BELOW_MIN_UNIT: f"{node}: {label} {amount} is below the minimum "
            f"unit of {limit}{unit}",
            ShortfallKind.ABOVE_MAX_UNIT: f"{node}: {label} {amount} is above the maximum "
            f"unit of {limit}{unit}",
            ShortfallKind.NOT_A_STEP: f"{node}: {label} {amount} is not a multiple of the "
            f"step size {limit}{unit}",
            ShortfallKind.INSUFFICIENT: f"{node} lacks {label} by {amount}",
        }
        return texts[self.kind]

    def __str__(self) -> str:
        return self.message


class InsufficientCapacityError(PermanentError):
    """``allocate`` was asked for what does not fit; ``shortfall`` says why."""

    def __init__(self, shortfall: CapacityShortfall) -> None:
        super().__init__(shortfall.message)
        self.shortfall = shortfall


class AllocationConflictError(PermanentError):
    """A consumer already holds a different allocation on the node."""


def check_allocation(usage: NodeUsage, request: Amounts) -> CapacityShortfall | None:
    """``None`` if ``request`` fits ``usage`` as a whole, else the first reason it does not."""
    node = usage.node
    if node.status is not NodeStatus.ONLINE:
        return CapacityShortfall(node.node_id, ShortfallKind.NOT_ONLINE, status=node.status)
    inventories, used, caps = node.inventories, usage.used, node.capacities
    for resource, amount in request.items():
        inv = inventories.get(resource)
        if inv is None:
            return CapacityShortfall(node.node_id, ShortfallKind.UNKNOWN_RESOURCE, resource)
        # One cheap test first: this runs for every candidate node of every system planned.
        if amount < inv.min_unit or amount > inv.upper_unit or amount % inv.step_size:
            return _unit_shortfall(node.node_id, resource, inv, amount)
        over = used.get(resource, 0) + amount - caps[resource]
        if over > 0:
            return CapacityShortfall(node.node_id, ShortfallKind.INSUFFICIENT, resource, over)
    return None


def _unit_shortfall(
    node_id: str, resource: str, inv: ResourceInventory, amount: int
) -> CapacityShortfall:
    if amount < inv.min_unit:
        kind, limit = ShortfallKind.BELOW_MIN_UNIT, inv.min_unit
    elif amount > inv.upper_unit:
        kind, limit = ShortfallKind.ABOVE_MAX_UNIT, inv.upper_unit
    else:
        kind, limit = ShortfallKind.NOT_A_STEP, inv.step_size
    return CapacityShortfall(node_id, kind, resource, amount, limit)


def allocate(usage: NodeUsage, consumer: str, request: Amounts) -> NodeUsage:
    """``usage`` with ``consumer`` holding ``request``, all or nothing.

    Repeating the same allocation returns ``usage`` unchanged (events arrive at
    least once); a different one for the same consumer is an ``AllocationConflictError``.
    """
    held = usage.allocations.get(consumer)
    if held is not None:
        if dict(held) == dict(request):
            return usage
        raise AllocationConflictError(
            f"{consumer} already holds {describe_amounts(held)} on node {usage.node.node_id}; "
            "release it first"
        )
    shortfall = check_allocation(usage, request)
    if shortfall is not None:
        raise InsufficientCapacityError(shortfall)
    used = dict(usage.used)
    for resource, amount in request.items():
        used[resource] = used.get(resource, 0) + amount
    allocations = {**usage.allocations, consumer: MappingProxyType(dict(request))}
    return NodeUsage(usage.node, used, allocations, usage.generation + 1)


def deallocate(usage: NodeUsage, consumer: str) -> NodeUsage:
    """``usage`` without ``consumer``'s allocation; unchanged if it holds none."""
    held = usage.allocations.get(consumer)
    if held is None:
        return usage
    used = dict(usage.used)
    for resource, amount in held.items():
        used[resource] = used.get(resource, 0) - amount
    allocations = {key: value for key, value in usage.allocations.items() if key != consumer}
    return NodeUsage(usage.node, used, allocations, usage.generation + 1)


def update_node(usage: NodeUsage, node: NodeState) -> NodeUsage:
    """``usage`` on a changed node (capacity or status); every allocation is kept."""
    if node.node_id != usage.node.node_id:
        raise PermanentError(f"node {node.node_id} cannot replace node {usage.node.node_id}")
    return NodeUsage(node, usage.used, usage.allocations, usage.generation + 1)


def node_state(node: Node, status: NodeStatus = NodeStatus.ONLINE) -> NodeState:
    """The ledger's view of an inventory ``Node``: totals, reserved and ratios."""
    totals = Resources.of(node.capacity).amounts()
    held = (Resources.of(node.reserved) if node.reserved else Resources()).amounts()
    ratios = {
        ResourceClass.VCPU: node.allocation_ratio_vcpu,
        ResourceClass.MEMORY_GB: node.allocation_ratio_memory,
        ResourceClass.STORAGE_GB: node.allocation_ratio_storage,
    }
    try:
        inventories: dict[str, ResourceInventory] = {
            rc: ResourceInventory(totals[rc], held[rc], ratios[rc]) for rc in ResourceClass
        }
    except ValueError as error:
        raise InventoryError(f"node {node.id}: {error}") from error
    return NodeState(node.id, node.city, inventories, status)


def empty_usage(node: NodeState) -> NodeUsage:
    """A node's ledger row before anything is allocated."""
    return NodeUsage(node)


def describe_amounts(amounts: Amounts) -> str:
    """E.g. ``8 vCPU, 32 GB memory, 500 GB storage``."""
    parts = []
    for resource, amount in amounts.items():
        label, unit = _LABELS.get(resource, (resource, ""))
        parts.append(f"{amount:,}{unit} {label}" if unit else f"{amount:,} {label}")
    return ", ".join(parts)
