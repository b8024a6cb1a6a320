"""Replication passes and cutover downtime: what a migration moved and what it cost users.

A system's data reaches its target in passes: a ``full`` copy while the source
serves, ``delta`` passes that send only what changed since, the ``final`` pass
of the cutover after the source is quiesced, and (once reverting exists) a
``reverse`` pass back to the source. Downtime is measured from the moment the
source stops serving to the first healthy answer by name. A ``Rehearsal`` is
a test migration from the replica: its result is evidence a cutover policy may
ask for (``rehearsed_since_full``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orchestrator.migrations.causes import Replicated


class PassKind(StrEnum):
    """Which pass of a system's replication (the ``pass`` label of its metrics)."""

    FULL = "full"
    DELTA = "delta"
    FINAL = "final"
    REVERSE = "reverse"


@dataclass(frozen=True, slots=True)
class ReplicationPass:
    """One pass: the bytes it put on the wire, and its duration when the provider timed it."""

    kind: PassKind
    bytes_sent: int
    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """One test migration: passed or not, why, under which test name, and how long it took."""

    passed: bool
    reason: str
    test_name: str | None = None
    seconds: float | None = None


def rehearsed_since_full(
    last_passed_rehearsal: datetime | None, last_full_pass: datetime | None
) -> bool:
    """Whether a passed rehearsal tested the current replica's lineage (after its full pass)."""
    if last_passed_rehearsal is None:
        return False
    return last_full_pass is None or last_passed_rehearsal > last_full_pass


@dataclass(frozen=True, slots=True)
class WarmPolicy:
    """Warm replication's rules: when a replica is ready, how often passes run, the forecast.

    ``ready_budget_s``: a delta pass at most this long makes the system ready.
    ``interval_s``: the pause between passes while replicating or ready.
    ``safety_factor`` and ``service_start_s``: the cutover's forecast downtime
    is the last delta pass's duration times the factor, plus the service start.
    """

    ready_budget_s: float = 5.0
    interval_s: float = 30.0
    safety_factor: float = 2.0
    service_start_s: float = 2.0


def judge_pass(replication: ReplicationPass, policy: WarmPolicy) -> Replicated:
    """The cause a pass reports: caught up when it was a timed delta within the ready budget."""
    seconds = replication.seconds
    took = f"{seconds:.1f} s" if seconds is not None else "untimed"
    caught_up = (
        replication.kind is PassKind.DELTA
        and seconds is not None
        and seconds <= policy.ready_budget_s
    )
    budget = f"the {policy.ready_budget_s:g} s ready budget"
    relation = "within" if caught_up else "not a delta within"
    detail = (
        f"{replication.kind} pass of {replication.bytes_sent} bytes, {took}, {relation} {budget}"
    )
    return Replicated(caught_up=caught_up, detail=detail)


def forecast_downtime(
    last_delta_s: float | None, policy: WarmPolicy, service_start_s: float | None = None
) -> float | None:
    """The cutover's forecast downtime, or None before any timed delta pass.

    ``service_start_s``: the service's start as measured (by the last passed
    rehearsal, start to its healthy answer by the test name); the policy's
    estimate until there is one.
    """
    if last_delta_s is None:
        return None
    start = policy.service_start_s if service_start_s is None else service_start_s
    return last_delta_s * policy.safety_factor + start


def pass_due(seconds_since_last: float | None, policy: WarmPolicy) -> bool:
    """Whether the next pass may run: the first at once, the others after the interval."""
    return seconds_since_last is None or seconds_since_last >= policy.interval_s
