"""How the worker replicates a system's data, and what its cutover is held to.

Every system waits in ``ready`` after replication until its cutover gates
(``orchestrator.gates``) let it through. ``Replication.warm`` says how it got
there. Cold (None, the default): one replicate pass, whose success makes the
system ready; its cutover's final pass carries what changed since. Warm (a
``WarmPolicy``): the worker reports each replicate pass as ``Replicated``
(``migrations.replication.judge_pass``), paces the passes of replicating and
ready systems by the policy's interval (``due``), and a delta pass within the
ready budget makes the system ready; the passes go on while it waits.

``cutover_case`` gives the gate what replication knows of a ready system: the
forecast downtime (the last timed pass, a warm system's delta or a cold one's
full copy, times the safety factor, plus the service's start), the downtime
budget of its criticality (warm only: a cold cutover's downtime is its final
pass, which no later pass can shrink), and the rehearsal policy.
"""

from __future__ import annotations

import math
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
class Replication:
    """Cold or warm replication, and what a ready system's cutover is held to."""

    # Warm replication's passes and forecast; None: cold, one pass.
    warm: WarmPolicy | None = None
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
        last: ReplicationPass | None,
        *,
        rehearsed: bool = False,
        service_start_s: float | None = None,
    ) -> CutoverCase:
        """What the cutover gate weighs of replication, ``last`` its last timed pass (a warm
        system's caught-up delta, a cold one's copy; None if it has none).

        ``rehearsed``: the system passed a rehearsal since its last full pass;
        ``service_start_s``: its service's start as its last passed rehearsal measured it.
        """
        policy = self.warm or WarmPolicy()
        seconds = None if last is None else last.seconds
        forecast = forecast_downtime(seconds, policy, service_start_s)
        if forecast is None:  # a cold copy untimed: the start is all that is known
            forecast = policy.service_start_s if self.warm is None else float("inf")
        return CutoverCase(
            facts=facts,
            forecast_s=forecast,
            budget_s=None if self.warm is None else self.budget_for(facts.criticality),
            rehearsal_required=facts.criticality in self.rehearsal_required,
            rehearsed=rehearsed,
        )

    def due(self, last_pass_at: datetime | None, now: datetime) -> bool:
        """Whether a system whose last pass was at ``last_pass_at`` may run the next one
        (warm: paced by the interval; cold: it makes no more)."""
        if self.warm is None:
            return False
        since = None if last_pass_at is None else (now - last_pass_at).total_seconds()
        return pass_due(since, self.warm)

    def next_due_in(self, last_pass_at: datetime, now: datetime) -> float:
        """Seconds from ``now`` until the pass after one at ``last_pass_at`` is due
        (cold: never, as ``due`` says)."""
        if self.warm is None:
            return math.inf
        return max(0.0, self.warm.interval_s - (now - last_pass_at).total_seconds())


# Cold replication under the default gates (the default cutover policy, no calendar).
COLD = Replication()


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
