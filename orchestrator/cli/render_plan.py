"""The JSON document and the summary of ``govmig plan``, from a ``PlanResult``.

Pure presentation at the top of the pipeline: ``cli/plan.py`` runs the same
placement code the orchestrator uses (``orchestrator.capacity.plan_placements``)
and hands the result here. The JSON always lists every system; the table mode
prints a summary (per-node counts and usage, the first unplaceable systems and
split groups), because a rich table of 10,000 rows takes seconds to draw, and
``--all`` prints every row as plain aligned text, which takes milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from orchestrator.capacity import FIELD_NAMES, NodeKind, PlanResult, ResourceClass
from orchestrator.cli.render import (
    PLAN,
    amount_text,
    node_document,
    platform_document,
    totals_document,
)

_LABELS: Final = {
    ResourceClass.VCPU: "vCPU",
    ResourceClass.MEMORY_GB: "memory",
    ResourceClass.STORAGE_GB: "storage",
}
# How many unplaceable systems and split groups the summary shows before "and N more".
SUMMARY_ROWS: Final = 20


@dataclass(frozen=True)
class PlanStart:
    """Where the dry run's node usage came from: ``store`` (with its URL) or ``empty``."""

    source: str
    state_db: str | None = None


def plan_document(
    result: PlanResult,
    *,
    strategy: str,
    start: PlanStart,
    already_placed: Mapping[str, str],
) -> dict[str, Any]:
    """``plan --output json``: every system's outcome and each node's usage after the plan."""
    placements = result.placements
    unplaceable = result.unplaceable
    planned = Counter(placement.node_id for placement in placements)
    targets = sorted(result.usage.items())
    # The connected platforms apart from the nodes, whose totals are the plan's.
    nodes = [{**node_document(usage), "planned": planned[target]}
             for target, usage in targets if usage.node.kind is NodeKind.NODE]  # fmt: skip
    platforms = [{**platform_document(usage), "planned": planned[target]}
                 for target, usage in targets if usage.node.kind is NodeKind.PLATFORM]  # fmt: skip
    return {
        "strategy": strategy,
        "start": {"from": start.source, "state_db": start.state_db},
        "summary": {
            "systems": len(result.outcomes) + len(already_placed),
            "placed": len(placements),
            "unplaceable": len(unplaceable),
            "already_placed": len(already_placed),
            "split_groups": len(result.split_groups),
        },
        "placements": [
            {"system_id": p.system_id, "node": p.node_id, "reason": p.reason} for p in placements
        ],
        "unplaceable": [{"system_id": u.system_id, "reason": u.reason} for u in unplaceable],
        "already_placed": [
            {"system_id": system_id, "node": node} for system_id, node in already_placed.items()
        ],
        "split_groups": [list(group) for group in result.split_groups],
        "nodes": nodes,
        "plan": dict(PLAN),
        "platforms": platforms,
    }


def summary_line(document: Mapping[str, Any]) -> str:
    """One line: how many systems went where, with which strategy, from which start."""
    summary, start = document["summary"], document["start"]
    origin = (
        f"from the usage in {start['state_db']}" if start["from"] == "store" else "from empty nodes"
    )
    held = f", {summary['already_placed']} already placed" if summary["already_placed"] else ""
    return (
        f"plan ({document['strategy']}, {origin}): {summary['systems']:,} systems, "
        f"{summary['placed']:,} placed, {summary['unplaceable']:,} unplaceable{held}, "
        f"{_count(summary['split_groups'], 'group')} split"
    )


def node_table(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per node after the plan: systems it gets, each resource used (and % of allocatable).

    Narrow enough for 80 columns: a node's status shows beside its name when it
    is not online; ``capacity`` has the full figures.
    """
    rows = [_node_line(node, node["node"], node["status"]) for node in document["nodes"]]
    totals = totals_document(document["nodes"])
    rows.append(_node_line({**totals, "planned": document["summary"]["placed"]}, "total", None))
    return rows


def _node_line(figures: Mapping[str, Any], name: str, status: str | None) -> dict[str, Any]:
    shown = name if status in (None, "online") else f"{name} ({status})"
    row: dict[str, Any] = {"node": shown, "planned": figures["planned"]}
    for resource, key in FIELD_NAMES.items():
        used = amount_text(resource, figures[key]["allocated"])
        row[f"{_LABELS[resource]} used"] = f"{used} ({figures[key]['utilisation'] * 100:.0f}%)"
    return row


def more_line(total: int, limit: int = SUMMARY_ROWS) -> str | None:
    """``... and N more`` when a list was cut, with where to find the rest."""
    if total <= limit:
        return None
    return f"... and {total - limit:,} more: --all prints every row, --output json has them all"


def aligned(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as plain text in aligned columns (the last column is not padded)."""
    if not rows:
        return ""
    widths = [max(len(str(row[column])) for row in rows) for column in columns[:-1]]
    lines = []
    for row in rows:
        padded = zip(columns[:-1], widths, strict=True)
        cells = [str(row[column]).ljust(width) for column, width in padded]
        lines.append("  ".join([*cells, str(row[columns[-1]])]))
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"
