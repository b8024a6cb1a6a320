"""What the demo shows while the wave moves: per node, how many systems are in each phase.

``tally`` is pure (rows in, counts out) so the display is testable; ``render``
turns a tally into a rich table. The demo reads the rows from the store, as
``govmig status`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rich.table import Table

from orchestrator.migrations.states import TERMINAL_STATES, SystemState

# Columns, in the order a system moves through them; short, so 14 nodes fit 100 columns.
COLUMNS: tuple[tuple[str, frozenset[SystemState]], ...] = (
    ("queued", frozenset({SystemState.REGISTERED, SystemState.QUEUED, SystemState.PLACED})),
    ("preflight", frozenset({SystemState.PREFLIGHT})),
    ("provision", frozenset({SystemState.PROVISIONING})),
    ("replicate", frozenset({SystemState.REPLICATING})),
    # Waiting at its cutover gates (approval, window, freeze, group), or rehearsing there.
    ("ready", frozenset({SystemState.READY, SystemState.REHEARSING})),
    ("cutover", frozenset({SystemState.CUTOVER})),
    ("verify", frozenset({SystemState.VERIFYING})),
    ("done", frozenset({SystemState.COMPLETED})),
    ("undoing", frozenset({SystemState.ROLLING_BACK})),
    ("undone", frozenset({SystemState.ROLLED_BACK, SystemState.CANCELLED})),
    ("failed", frozenset({SystemState.FAILED})),
)
_COLUMN_OF = {state: name for name, states in COLUMNS for state in states}


@dataclass(frozen=True, slots=True)
class SystemProgress:
    """The two facts the display needs about one system."""

    node: str
    state: SystemState


@dataclass(slots=True)
class Tally:
    """Counts per node and column, and how many systems have finished."""

    by_node: dict[str, dict[str, int]] = field(default_factory=dict)
    finished: int = 0
    total: int = 0

    def column_total(self, column: str) -> int:
        """How many systems are in ``column`` across every node."""
        return sum(counts.get(column, 0) for counts in self.by_node.values())


def tally(systems: Iterable[SystemProgress]) -> Tally:
    """Count systems per node and display column."""
    result = Tally()
    for system in systems:
        counts = result.by_node.setdefault(system.node, {})
        column = _COLUMN_OF[system.state]
        counts[column] = counts.get(column, 0) + 1
        result.total += 1
        result.finished += system.state in TERMINAL_STATES
    return result


def render(result: Tally, *, title: str, node_names: Mapping[str, str]) -> Table:
    """A table with a row per node and a column per phase."""
    table = Table(title=title, title_justify="left")
    table.add_column("node")
    for name, _ in COLUMNS:
        table.add_column(name, justify="right")
    for node in sorted(result.by_node):
        counts = result.by_node[node]
        label = f"{node} {node_names.get(node, '')}".rstrip()
        table.add_row(label, *(_cell(counts.get(name, 0)) for name, _ in COLUMNS))
    table.add_row("total", *(_cell(result.column_total(name)) for name, _ in COLUMNS))
    return table


def _cell(count: int) -> str:
    return str(count) if count else "·"
