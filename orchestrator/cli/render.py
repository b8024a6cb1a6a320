"""Rows and JSON documents for ``govmig status`` and ``govmig capacity``, from store records.

Pure presentation at the top of the pipeline: ``cli/views.py`` reads the store
and hands the frozen records (``SystemRow``, ``TransitionRow``, ``Allocation``,
``NodeUsage``) to these functions, then prints. The JSON documents are the
stable contract for scripts (docs/cli-json.md): raw integers in the units of
the events (vCPU, decimal GB), utilisation as a fraction, times in RFC 3339 UTC.
Tables are for people: memory and storage in decimal TB/PB, utilisation in %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from orchestrator.capacity import FIELD_NAMES, NodeUsage, ResourceClass, Resources
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_STORAGE_GB, PLAN_VCPU
from orchestrator.migrations.replication import PassKind, WarmPolicy, forecast_downtime
from orchestrator.migrations.states import phase_in
from orchestrator.store import Allocation, SystemRow, TransitionRow
from orchestrator.store.approvals import ApprovalRow
from orchestrator.store.awaiting import HeldRequest
from orchestrator.store.replication import PassRow, RehearsalRow, start_measured

# The plan's totals, keyed like every resource in JSON output (``FIELD_NAMES``).
PLAN: Final[Mapping[str, int]] = Resources(PLAN_VCPU, PLAN_MEMORY_GB, PLAN_STORAGE_GB).fields()
_TITLES: Final[Mapping[ResourceClass, str]] = {
    ResourceClass.VCPU: "vCPU",
    ResourceClass.MEMORY_GB: "Memory (decimal units)",
    ResourceClass.STORAGE_GB: "Storage (decimal units)",
}
_UNITS: Final = ((10**6, "PB"), (10**3, "TB"), (1, "GB"))


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the microsecond: the JSON form of every time."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def short_time(moment: datetime, *, seconds: bool = True) -> str:
    """A time for a table: UTC, to the second (or the minute, where room is short)."""
    shape = "%Y-%m-%d %H:%M:%SZ" if seconds else "%Y-%m-%d %H:%MZ"
    return moment.astimezone(UTC).strftime(shape)


def human_gb(gb: int) -> str:
    """Decimal GB as people read it: ``850 GB``, ``12.5 TB``, ``1.25 PB``."""
    for size, unit in _UNITS:
        if abs(gb) >= size or size == 1:
            value = gb / size
            decimals = 0 if size == 1 or abs(value) >= 100 else 1 if abs(value) >= 10 else 2
            return f"{value:,.{decimals}f} {unit}"
    raise AssertionError("unreachable: the last unit matches everything")


def amount_text(resource: ResourceClass, amount: int) -> str:
    """An amount of ``resource`` for a table: vCPU as a count, the rest in decimal units."""
    return f"{amount:,}" if resource is ResourceClass.VCPU else human_gb(amount)


def percent(fraction: float) -> str:
    """``0.4567`` as ``45.7%``."""
    return f"{fraction * 100:.1f}%"


# --- status -----------------------------------------------------------------------------


def system_row(system: SystemRow) -> dict[str, Any]:
    """One system as a JSON row of ``status``."""
    return {
        "id": system.id,
        "name": system.record.get("name"),
        "city": system.city,
        "state": str(system.state),
        "node": system.node,
        "phase": None if system.phase is None else str(system.phase),
        "wave": system.wave,
        "last_error": system.last_error,
        "waiting": system.waiting,
        "cutover_at": None if system.cutover_at is None else iso(system.cutover_at),
        "requested_by": system.requested_by,
        "target_host": system.target_host,
        "ipv6_address": system.ipv6_address,
        "downtime_seconds": system.downtime_seconds,
        "updated_at": iso(system.updated_at),
    }


def status_document(
    systems: Iterable[SystemRow], held: Sequence[HeldRequest] | None = None
) -> dict[str, Any]:
    """``status --output json`` without a SYSTEM_ID; the held requests unless filtered."""
    document: dict[str, Any] = {"systems": [system_row(system) for system in systems]}
    if held is not None:
        document["awaiting_registration"] = [
            {"system_id": request.system_id, **awaiting_row(request)} for request in held
        ]
    return document


def status_table(systems: Iterable[SystemRow]) -> list[dict[str, Any]]:
    """``status`` rows for people: the state, where and when (errors go below the table).

    The phase shows beside the state only when the state does not already name
    it (``failed (rollback)``). Without the free-text error the table fits 80
    columns; ``error_lines`` prints the errors in full under it.
    """
    return [
        {
            "system": system.id,
            "state": state_text(system),
            "node": system.node,
            "wave": system.wave,
            "updated": short_time(system.updated_at, seconds=False),
        }
        for system in systems
    ]


def error_lines(systems: Iterable[SystemRow]) -> list[str]:
    """``id: last error`` for each system that has one, in order."""
    return [f"{system.id}: {system.last_error}" for system in systems if system.last_error]


def held_lines(held: Sequence[HeldRequest], now: datetime) -> list[str]:
    """``id: request by who, N s left`` for each request held for its system's registration."""
    return [
        f"{request.system_id}: {request.request} by {request.requested_by or 'unknown'}, "
        f"{_awaiting_line(request, now)['left']} left (event {request.event_id})"
        for request in held
    ]


def waiting_lines(systems: Iterable[SystemRow]) -> list[str]:
    """``id: reason: why`` for each system a gate holds, in order."""
    return [f"{system.id}: {system.waiting}" for system in systems if system.waiting]


def state_text(system: SystemRow) -> str:
    """The state, with the phase in parentheses when the state alone does not imply it."""
    if system.phase is None or system.phase == phase_in(system.state):
        return str(system.state)
    return f"{system.state} ({system.phase})"


def allocation_document(allocation: Allocation | None) -> dict[str, Any] | None:
    """What a system holds on its node, in JSON; None if it holds nothing."""
    if allocation is None:
        return None
    amounts = Resources.from_amounts(allocation.amount).fields()
    return {"node": allocation.node_id, **amounts, "allocated_at": iso(allocation.allocated_at)}


def history_row(transition: TransitionRow) -> dict[str, Any]:
    """One line of the audit, in JSON; ``to_state`` is null when the request was refused."""
    return {
        "id": transition.id,
        "at": iso(transition.at),
        "from_state": None if transition.from_state is None else str(transition.from_state),
        "to_state": None if transition.to_state is None else str(transition.to_state),
        "refused": transition.refused,
        "cause": transition.cause,
        "actor": transition.actor,
        "reason": transition.reason,
        "event_source": transition.event_source,
        "event_id": transition.event_id,
        "change_ref": transition.change_ref,
    }


@dataclass(frozen=True, slots=True)
class ApprovalStatus:
    """Whether a system's cutover needs an approval, and its live one (living ``ttl``)."""

    needed: bool
    live: ApprovalRow | None
    ttl: timedelta


def approval_document(status: ApprovalStatus | None) -> dict[str, Any] | None:
    """``needed``, and the live approval: who, under which change, granted and expiring when."""
    if status is None:
        return None
    live = status.live
    return {
        "needed": status.needed,
        "live": None
        if live is None
        else {
            "approved_by": live.approver,
            "change_ref": live.change_ref,
            "comment": live.comment,
            "granted_at": iso(live.granted_at),
            "expires_at": iso(live.expires_at(status.ttl)),
        },
    }


def _approval_line(status: ApprovalStatus) -> dict[str, Any]:
    live = status.live
    return {
        "needed": "yes" if status.needed else "no",
        "approved by": None if live is None else live.approver,
        "change": None if live is None else live.change_ref,
        "granted": None if live is None else short_time(live.granted_at),
        "expires": None if live is None else short_time(live.expires_at(status.ttl)),
    }


@dataclass(frozen=True, slots=True)
class SystemDetail:
    """Everything ``status SYSTEM_ID`` shows of one system."""

    system: SystemRow
    allocation: Allocation | None
    passes: Sequence[PassRow]
    history: Sequence[TransitionRow]
    rehearsal: RehearsalRow | None = None
    approval: ApprovalStatus | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Requests held for its registration (normally none once it is registered).
    awaiting: Sequence[HeldRequest] = ()


def pass_row(recorded: PassRow) -> dict[str, Any]:
    """One replication pass as a JSON row of ``status SYSTEM_ID``."""
    replicated = recorded.replication
    return {
        "kind": str(replicated.kind),
        "bytes_sent": replicated.bytes_sent,
        "seconds": replicated.seconds,
        "at": iso(recorded.at),
    }


def detail_document(detail: SystemDetail) -> dict[str, Any]:
    """``status SYSTEM_ID --output json``: the system, its record, allocation, passes, audit."""
    return {
        "system": system_row(detail.system),
        "record": detail.system.record,
        "allocation": allocation_document(detail.allocation),
        "replication_passes": [pass_row(recorded) for recorded in detail.passes],
        "replica": replica_document(detail.passes, detail.now, detail.rehearsal),
        "rehearsal": rehearsal_document(detail.rehearsal),
        "approval": approval_document(detail.approval),
        "history": [history_row(transition) for transition in detail.history],
        "awaiting_registration": [awaiting_row(held) for held in detail.awaiting],
    }


def awaiting_row(held: HeldRequest) -> dict[str, Any]:
    """One request held for its system's registration, as a JSON row of ``status SYSTEM_ID``."""
    return {
        "request": held.request,
        "requested_by": held.requested_by,
        "event_source": held.event_source,
        "event_id": held.event_id,
        "arrived_at": iso(held.arrived_at),
        "deadline": iso(held.deadline),
    }


def unregistered_document(
    held: Sequence[HeldRequest], history: Sequence[TransitionRow]
) -> dict[str, Any]:
    """``status SYSTEM_ID --output json`` of a system not registered yet that requests await:
    the keys of a registered system's document, empty, and the requests held."""
    return {
        "system": None,
        "record": None,
        "allocation": None,
        "replication_passes": [],
        "replica": None,
        "rehearsal": None,
        "approval": None,
        "history": [history_row(transition) for transition in history],
        "awaiting_registration": [awaiting_row(request) for request in held],
    }


def unregistered_tables(
    system_id: str, held: Sequence[HeldRequest], history: Sequence[TransitionRow], now: datetime
) -> list[tuple[str, list[dict[str, Any]]]]:
    """``status SYSTEM_ID`` for people, of a system not registered yet that requests await."""
    title = f"{system_id} is not registered yet: requests awaiting its registration"
    tables = [(title, [_awaiting_line(request, now) for request in held])]
    if history:
        tables.append((f"History of {system_id}", [_history_line(t) for t in history]))
    return tables


def _awaiting_line(held: HeldRequest, now: datetime) -> dict[str, Any]:
    left = max((held.deadline - now).total_seconds(), 0.0)
    return {
        "request": held.request,
        "by": held.requested_by,
        "since": short_time(held.arrived_at),
        "deadline": short_time(held.deadline),
        "left": f"{left:.0f} s",
        "event": held.event_id,
    }


def rehearsal_document(recorded: RehearsalRow | None) -> dict[str, Any] | None:
    """The last rehearsal: passed or not, why, its test name and time; None before any."""
    if recorded is None:
        return None
    tried = recorded.rehearsal
    return {
        "passed": tried.passed,
        "reason": tried.reason,
        "test_name": tried.test_name,
        "seconds": tried.seconds,
        "at": iso(recorded.at),
    }


def replica_document(
    passes: Sequence[PassRow], now: datetime, rehearsal: RehearsalRow | None = None
) -> dict[str, Any] | None:
    """The replica's age (since its last pass), its last delta pass and the cutover forecast
    (that delta's seconds times the safety factor, plus the service start the last passed
    ``rehearsal`` measured, or the policy's estimate); None before any pass.
    """
    if not passes:
        return None
    deltas = [p.replication.seconds for p in passes if p.replication.kind is PassKind.DELTA]
    last_delta = deltas[-1] if deltas else None
    forecast = forecast_downtime(last_delta, WarmPolicy(), start_measured(rehearsal))
    return {
        "age_seconds": round((now - passes[-1].at).total_seconds(), 1),
        "last_delta_seconds": last_delta,
        "cutover_forecast_seconds": None if forecast is None else round(forecast, 1),
    }


def detail_tables(detail: SystemDetail) -> list[tuple[str, list[dict[str, Any]]]]:
    """``status SYSTEM_ID`` for people: (title, rows) of the system, allocation, passes, audit."""
    system, allocation = detail.system, detail.allocation
    fields = {key: value for key, value in system_row(system).items() if key != "updated_at"}
    fields["updated"] = short_time(system.updated_at)
    tables = [(f"System {system.id}", [{"field": k, "value": v} for k, v in fields.items()])]
    if allocation is not None:
        held = {"node": allocation.node_id}
        for resource, key in FIELD_NAMES.items():
            held[key] = amount_text(resource, allocation.amount.get(resource, 0))
        held["allocated"] = short_time(allocation.allocated_at)
        tables.append(("Allocation", [held]))
    replica = replica_document(detail.passes, detail.now, detail.rehearsal)
    if replica is not None:
        tables.append((f"Replica of {system.id}", [_replica_line(replica)]))
        tables.append((f"Replication of {system.id}", [_pass_line(p) for p in detail.passes]))
    if detail.rehearsal is not None:
        tables.append((f"Last rehearsal of {system.id}", [_rehearsal_line(detail.rehearsal)]))
    if detail.approval is not None:
        tables.append((f"Approval of {system.id}", [_approval_line(detail.approval)]))
    if detail.awaiting:
        lines = [_awaiting_line(held, detail.now) for held in detail.awaiting]
        tables.append((f"Requests awaiting the registration of {system.id}", lines))
    tables.append((f"History of {system.id}", [_history_line(t) for t in detail.history]))
    return tables


def _replica_line(replica: Mapping[str, Any]) -> dict[str, Any]:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    return {
        "age": seconds(replica["age_seconds"]),
        "last delta": seconds(replica["last_delta_seconds"]),
        "cutover forecast": seconds(replica["cutover_forecast_seconds"]),
    }


def _rehearsal_line(recorded: RehearsalRow) -> dict[str, Any]:
    tried = recorded.rehearsal
    return {
        "at": short_time(recorded.at),
        "result": "passed" if tried.passed else "failed",
        "test name": tried.test_name,
        "reason": tried.reason,
    }


def _pass_line(recorded: PassRow) -> dict[str, Any]:
    replicated = recorded.replication
    seconds = replicated.seconds
    # What the pass sent over the link, to read against a node's replication_limit_mbps.
    rate = "-"
    if seconds:
        rate = f"{replicated.bytes_sent * 8 / seconds / 1e6:.1f} Mbit/s"
    return {
        "at": short_time(recorded.at),
        "pass": str(replicated.kind),
        "bytes": f"{replicated.bytes_sent:,}",
        "took": "-" if seconds is None else f"{seconds:.2f} s",
        "rate": rate,
    }


def _history_line(transition: TransitionRow) -> dict[str, Any]:
    source = "-" if transition.from_state is None else str(transition.from_state)
    target = "(refused)" if transition.to_state is None else str(transition.to_state)
    return {
        "at": short_time(transition.at),
        "change": f"{source} → {target}",
        "actor": transition.actor,
        "reason": transition.reason,
        "refused": "yes" if transition.refused else "",
    }


# --- capacity ---------------------------------------------------------------------------


def resource_document(usage: NodeUsage, resource: ResourceClass) -> dict[str, Any]:
    """One resource of one node: physical total, reserved, ratio, allocatable, used, free."""
    inventory = usage.node.inventories[resource]
    return {
        "total": inventory.total,
        "reserved": inventory.reserved,
        "allocation_ratio": inventory.allocation_ratio,
        "allocatable": usage.node.capacities[resource],
        "allocated": usage.used.get(resource, 0),
        "free": usage.free(resource),
        "utilisation": round(usage.utilisation(resource), 6),
    }


def node_document(usage: NodeUsage) -> dict[str, Any]:
    """One node's capacity and use, in JSON."""
    document: dict[str, Any] = {
        "node": usage.node.node_id,
        "city": usage.node.city,
        "status": str(usage.node.status),
        "systems": len(usage.allocations),
    }
    for resource, key in FIELD_NAMES.items():
        document[key] = resource_document(usage, resource)
    return document


def totals_document(nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sums over ``node_document``s, each resource beside the plan's target."""
    totals = subtotal_document(nodes)
    for key in FIELD_NAMES.values():
        totals[key]["plan"] = PLAN[key]
    return totals


def subtotal_document(targets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sums over ``node_document``s (or platforms'), each resource's utilisation of them."""
    totals: dict[str, Any] = {"systems": sum(target["systems"] for target in targets)}
    for key in FIELD_NAMES.values():
        parts = [target[key] for target in targets]
        summed = {
            name: sum(part[name] for part in parts)
            for name in ("total", "reserved", "allocatable", "allocated", "free")
        }
        allocatable = summed["allocatable"]
        summed["utilisation"] = round(summed["allocated"] / allocatable, 6) if allocatable else 1.0
        totals[key] = summed
    return totals


def platform_document(usage: NodeUsage) -> dict[str, Any]:
    """One connected platform's capacity and use, in JSON: as a node's, keyed ``platform``."""
    document = node_document(usage)
    return {"platform": document.pop("node"), **document}


def capacity_document(
    usages: Iterable[NodeUsage], platforms: Iterable[NodeUsage] = ()
) -> dict[str, Any]:
    """``capacity --output json``: every node, the totals and the plan's targets (the nodes'
    alone), then the connected PRD platforms and their own subtotal."""
    nodes = [node_document(usage) for usage in usages]
    connected = [platform_document(usage) for usage in platforms]
    return {
        "nodes": nodes,
        "total": totals_document(nodes),
        "plan": dict(PLAN),
        "platforms": connected,
        "platforms_total": subtotal_document(connected),
    }


def capacity_tables(document: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """One (title, rows) table per resource from ``capacity_document``: the nodes, their total
    and the plan, then the connected platforms and their subtotal."""
    tables = []
    for resource, key in FIELD_NAMES.items():
        rows = [_capacity_line(resource, node["node"], node["status"], node[key])
                for node in document["nodes"]]  # fmt: skip
        total = document["total"][key]
        rows.append(_capacity_line(resource, "total", "", total))
        rows.append({"node": "plan", "total": amount_text(resource, total["plan"])})
        if document["platforms"]:
            rows += [_capacity_line(resource, f"platform {p['platform']}", p["status"], p[key])
                     for p in document["platforms"]]  # fmt: skip
            subtotal = document["platforms_total"][key]
            rows.append(_capacity_line(resource, "platforms subtotal", "", subtotal))
        tables.append((_TITLES[resource], rows))
    return tables


def _capacity_line(
    resource: ResourceClass, node: str, status: str, figures: Mapping[str, Any]
) -> dict[str, Any]:
    line: dict[str, Any] = {"node": node, "status": status}
    for name in ("total", "allocatable", "allocated", "free"):
        line[name] = amount_text(resource, figures[name])
    line["used"] = percent(figures["utilisation"])
    return line
