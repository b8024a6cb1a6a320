"""Warm replication in the worker: each pass judged, and a caught-up system asked to cut over.

With a ``WarmReplication`` in its config, the worker reports each replicate pass
as ``Replicated`` (``migrations.replication.judge_pass``) instead of a plain
success, paces the passes of replicating and ready systems by the policy's
interval (``due``), and gives the cutover gate (``orchestrator.gates``) what
replication knows of each system a caught-up pass left ``ready``
(``cutover_case``: the forecast downtime of that pass, the budget of its
criticality, the rehearsal policy); the worker asks the gate and the state
machine starts the cutover or records what holds it, and the next pass asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestrator.errors import ConfigurationError
from orchestrator.gates import CutoverCase
from orchestrator.inventory import Calendar, CalendarFacts
from orchestrator.inventory.cutover_policy import CutoverPolicy
from orchestrator.migrations.replication import (
    ReplicationPass,
    WarmPolicy,
    forecast_downtime,
    pass_due,
)

# A system's downtime budget by its criticality, in seconds, unless configured.
DEFAULT_BUDGETS_S: Mapping[str, float] = {"critical": 30, "high": 60, "medium": 120, "low": 300}


def utc_now() -> datetime:
    """The worker's clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class WarmReplication:
    """The policy of the passes, and what a ready system's cutover is held to."""

    policy: WarmPolicy = field(default_factory=WarmPolicy)
    budgets_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_BUDGETS_S))
    # The criticalities whose systems cut over only after a passed rehearsal.
    rehearsal_required: frozenset[str] = frozenset()
    # Who needs an approval, and for how long one lives (``--cutover-policy``).
    cutover: CutoverPolicy = field(default_factory=CutoverPolicy)
    # Maintenance windows and freezes (``--calendar``); unrestricted without a file.
    calendar: Calendar = field(default_factory=Calendar.unrestricted)
    clock: Callable[[], datetime] = utc_now

    def budget_for(self, criticality: str) -> float:
        """The downtime budget of a system of this criticality."""
        return self.budgets_s.get(criticality, self.budgets_s.get("medium", 120.0))

    def cutover_case(
        self,
        facts: CalendarFacts,
        last: ReplicationPass,
        *,
        rehearsed: bool = False,
        service_start_s: float | None = None,
    ) -> CutoverCase:
        """What the cutover gate weighs of replication after the caught-up pass ``last``.

        ``rehearsed``: the system passed a rehearsal since its last full pass;
        ``service_start_s``: its service's start as its last passed rehearsal measured it.
        """
        forecast = forecast_downtime(last.seconds, self.policy, service_start_s)
        # A caught-up pass is a timed delta, so the forecast exists; be safe anyway.
        return CutoverCase(
            facts=facts,
            forecast_s=forecast or float("inf"),
            budget_s=self.budget_for(facts.criticality),
            rehearsal_required=facts.criticality in self.rehearsal_required,
            rehearsed=rehearsed,
        )

    def due(self, last_pass_at: datetime | None, now: datetime) -> bool:
        """Whether a system whose last pass was at ``last_pass_at`` may run the next one."""
        since = None if last_pass_at is None else (now - last_pass_at).total_seconds()
        return pass_due(since, self.policy)


def parse_budgets(text: str) -> dict[str, float]:
    """``critical=30,high=60`` over the defaults; a clear error naming what is wrong."""
    budgets = dict(DEFAULT_BUDGETS_S)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in DEFAULT_BUDGETS_S:
            known = ", ".join(DEFAULT_BUDGETS_S)
            raise ConfigurationError(f"downtime budget {item!r}: criticality is one of {known}")
        try:
            seconds = float(value)
        except ValueError:
            raise ConfigurationError(
                f"downtime budget {item!r}: seconds must be a number"
            ) from None
        if seconds <= 0:
            raise ConfigurationError(f"downtime budget {item!r}: seconds must be positive")
        budgets[name] = seconds
    return budgets


def parse_criticalities(text: str) -> frozenset[str]:
    """``critical,high``: a set of criticalities; a clear error naming an unknown one."""
    names = frozenset(filter(None, (part.strip() for part in text.split(","))))
    if unknown := sorted(names - set(DEFAULT_BUDGETS_S)):
        known = ", ".join(DEFAULT_BUDGETS_S)
        raise ConfigurationError(
            f"rehearsal policy names {', '.join(unknown)}: a criticality is one of {known}"
        )
    return names
