"""The intake benchmark's results: one dataclass, the markdown table and the JSON document.

Pure: no I/O here, so the rules (what passes, how a ratio reads) are plain
functions. Targets come from the issue: at least 5,000 events/s on 2 cores and
0.3 of a bare consumer's rate, under 200 MB with 10,000 systems, under 1 s to
place 10,000 systems.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

INTAKE_TARGET = 5_000.0
RATIO_TARGET = 0.3
RSS_TARGET_MB = 200.0
PLACEMENT_TARGET_S = 1.0


@dataclass(frozen=True)
class Results:
    """Every figure of one benchmark run (rates are the best of the repeats)."""

    events: int
    repeat: int
    batch_size: int
    intake_rate: float
    raw_rate: float
    requests: int = 0
    requests_rate: float | None = None
    requests_states: Mapping[str, int] = field(default_factory=dict)
    rss_systems: int = 0
    peak_rss_mb: float | None = None
    placement_systems: int = 0
    placement_s: float | None = None
    placement_placed: int = 0
    plan_command_s: float | None = None

    @property
    def ratio(self) -> float:
        """The intake's rate over the bare consumer's."""
        return self.intake_rate / self.raw_rate if self.raw_rate > 0 else 0.0

    def document(self) -> dict[str, Any]:
        """The JSON document (``--json``): every figure, the ratio and the verdicts."""
        verdicts = {line.key: line.ok for line in lines(self) if line.ok is not None}
        return {**asdict(self), "ratio": self.ratio, "pass": verdicts}


@dataclass(frozen=True, slots=True)
class Line:
    """One row of the table; ``note`` stands in the last column when there is no verdict."""

    key: str
    metric: str
    measured: str
    target: str = "—"
    ok: bool | None = None
    note: str = "—"

    @property
    def verdict(self) -> str:
        """``pass``, ``**FAIL**`` or the note."""
        if self.ok is None:
            return self.note
        return "pass" if self.ok else "**FAIL**"


def markdown_table(results: Results) -> str:
    """The ``metric | measured | target | ratio / pass`` table, ready for the README."""
    rows = [f"| {x.metric} | {x.measured} | {x.target} | {x.verdict} |" for x in lines(results)]
    return "\n".join(
        ["| metric | measured | target | ratio / pass |", "| --- | --- | --- | --- |", *rows]
    )


def lines(r: Results) -> list[Line]:
    """The table's rows, in order; the optional measurements only when they were made."""
    found = [
        Line("intake_rate", f"intake of {r.events:,} registrations: decode, dedupe, transition, "
             "persist on SQLite, publish status events", f"{r.intake_rate:,.0f} events/s",
             f"≥ {INTAKE_TARGET:,.0f} events/s", r.intake_rate >= INTAKE_TARGET),
        Line("raw_rate", "bare kafka-python consumer, same records, fresh group",
             f"{r.raw_rate:,.0f} records/s", "baseline"),
        Line("ratio", "intake / bare consumer", f"{r.ratio:.3f}", f"≥ {RATIO_TARGET}",
             r.ratio >= RATIO_TARGET),
    ]  # fmt: skip
    if r.requests_rate is not None:
        found.append(_requests_line(r, r.requests_rate))
    if r.peak_rss_mb is not None:
        found.append(
            Line("peak_rss", f"peak RSS of the intake process, {r.rss_systems:,} systems "
                 "registered", f"{r.peak_rss_mb:,.0f} MB", f"< {RSS_TARGET_MB:,.0f} MB",
                 r.peak_rss_mb < RSS_TARGET_MB)
        )  # fmt: skip
    if r.placement_s is not None:
        found.append(
            Line("placement", f"placing {r.placement_systems:,} systems (`plan_placements`); "
                 f"{r.placement_placed:,} fit, the rest exceed the plan's capacity",
                 f"{r.placement_s:.3f} s", f"< {PLACEMENT_TARGET_S:g} s",
                 r.placement_s < PLACEMENT_TARGET_S)
        )  # fmt: skip
    if r.plan_command_s is not None:
        found.append(
            Line("plan_command", f"`govmig plan FILE --output json` on a {r.placement_systems:,}"
                 "-system CSV, the whole command", f"{r.plan_command_s:.2f} s")
        )  # fmt: skip
    return found


def _requests_line(r: Results, rate: float) -> Line:
    states = ", ".join(f"{n:,} {state}" for state, n in sorted(r.requests_states.items()))
    ratio = f"{rate / r.intake_rate:.2f} of the intake rate" if r.intake_rate > 0 else "—"
    return Line(
        "requests_rate",
        f"migration requests with placement, {r.requests:,} requests (then: {states})",
        f"{rate:,.0f} requests/s",
        note=ratio,
    )
