"""One row of figures per scenario, the table they make, and whether the run passed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figures:
    """What one scenario injected and what the system did about it.

    ``ran`` is False for a scenario that could not run here (the lab without
    root): it is reported, never counted as passed. ``error`` is set when the
    scenario itself broke (a service would not start): that fails the run too.
    """

    scenario: str
    faults: int = 0
    systems: int = 0
    completed: int = 0
    expected_completed: int = 0
    lost: int = 0
    double_cutovers: int = 0
    ledger_drift: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    ran: bool = True
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Any loss, double cutover, drift, missed completion, or a scenario that broke."""
        return self.ran and (
            self.error is not None
            or self.lost > 0
            or self.double_cutovers > 0
            or self.ledger_drift > 0
            or self.completed != self.expected_completed
            or self.faults == 0
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "ran": self.ran,
            "faults": self.faults,
            "systems": self.systems,
            "completed": self.completed,
            "expected_completed": self.expected_completed,
            "lost": self.lost,
            "double_cutovers": self.double_cutovers,
            "ledger_drift": self.ledger_drift,
            "dead_letters": dict(self.dead_letters),
            "seconds": round(self.seconds, 1),
            "error": self.error,
            "notes": self.notes,
            "failed": self.failed,
        }


COLUMNS = ("scenario", "faults", "systems", "done", "lost", "double", "drift", "dead", "time s")


def table(rows: Sequence[Figures]) -> str:
    """The one table: a line per scenario, then each scenario's dead letters and notes."""
    lines = [f"{COLUMNS[0]:<22}" + "".join(f"{name:>9}" for name in COLUMNS[1:])]
    for row in rows:
        lines.append(f"{row.scenario:<22}" + "".join(f"{cell:>9}" for cell in _cells(row)))
    lines.append("")
    for row in rows:
        lines.extend(f"{row.scenario}: {line}" for line in _details(row))
    return "\n".join(lines)


def _cells(row: Figures) -> list[str]:
    if not row.ran:
        return ["-", "-", "NOT RUN", "-", "-", "-", "-", "-"]
    done = f"{row.completed}/{row.expected_completed}"
    return [
        str(row.faults),
        str(row.systems),
        done,
        str(row.lost),
        str(row.double_cutovers),
        str(row.ledger_drift),
        str(sum(row.dead_letters.values())),
        f"{row.seconds:.1f}",
    ]


def _details(row: Figures) -> list[str]:
    details = []
    if row.dead_letters:
        reasons = ", ".join(
            f"{reason} {count}" for reason, count in sorted(row.dead_letters.items())
        )
        details.append(f"dead letters {sum(row.dead_letters.values())} ({reasons})")
    details.extend(row.notes)
    if row.error:
        details.append(f"ERROR {row.error}")
    if row.ran and row.failed and not row.error:
        details.append("FAILED")
    return details
