"""The instances benchmark's results: one row per instance count, the table and the JSON document.

Pure: no I/O here. Each rate is a ratio against the one-instance round of the
same run (the baseline), and the ledger's contention is the compare-and-swaps
lost and redone per placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Round:
    """What ``instances`` instances sharing one group and one database did in one round."""

    instances: int
    registrations: int
    registration_s: float
    requests: int
    request_s: float
    conflicts: float
    batch_retries: float

    @property
    def registration_rate(self) -> float:
        """Registrations per second, until the store held every one."""
        return _rate(self.registrations, self.registration_s)

    @property
    def request_rate(self) -> float:
        """Migration requests per second, until the store showed every one placed."""
        return _rate(self.requests, self.request_s)

    @property
    def conflicts_per_placement(self) -> float:
        """Compare-and-swaps lost to another instance and redone, per system placed."""
        return self.conflicts / self.requests if self.requests else 0.0


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def ratio(value: float, baseline: float) -> float:
    """``value`` over the baseline's; 0 when there is no baseline to compare with."""
    return value / baseline if baseline > 0 else 0.0


def markdown_table(rounds: Sequence[Round]) -> str:
    """``instances | registrations/s | ratio | requests+placement/s | ratio | CAS retries``."""
    baseline = rounds[0]
    header = [
        "| instances | registrations/s | ratio | requests+placement/s | ratio "
        "| CAS retries per placement |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [
        f"| {r.instances} | {r.registration_rate:,.0f} "
        f"| {ratio(r.registration_rate, baseline.registration_rate):.2f} "
        f"| {r.request_rate:,.0f} | {ratio(r.request_rate, baseline.request_rate):.2f} "
        f"| {r.conflicts_per_placement:.3f} |"
        for r in rounds
    ]
    return "\n".join([*header, *rows])


def document(rounds: Sequence[Round]) -> dict[str, Any]:
    """The JSON document (``--json``): every round's figures, rates and ratios."""
    baseline = rounds[0]
    return {
        "baseline_instances": baseline.instances,
        "rounds": [
            {
                **asdict(r),
                "registration_rate": r.registration_rate,
                "registration_ratio": ratio(r.registration_rate, baseline.registration_rate),
                "request_rate": r.request_rate,
                "request_ratio": ratio(r.request_rate, baseline.request_rate),
                "conflicts_per_placement": r.conflicts_per_placement,
            }
            for r in rounds
        ],
    }
