"""What a provider's role reports about replication and downtime, read into domain values.

A role sets the ``govmig_report`` fact (see ``outcomes.clean_report``); these
keys are the part of that contract about moving data and cutting over:

- ``replication_pass``: ``full`` or ``delta`` (a replicate pass); the cutover's
  pass is always ``final``, whatever it says.
- ``bytes_sent``: bytes the pass put on the wire; ``transfer_ms`` its duration.
- ``downtime_ms``: from the source's stop to the first healthy answer by name.
- a rollback or revert that synced the target's data back says
  ``replication_pass: reverse`` (with its bytes and duration).
- a rehearsal: ``rehearsal_name`` (the test name) and ``rehearsal_ms``.

Pure: a report in, values out; anything missing or malformed reads as absent.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.execution.outcomes import HostOutcome, ReportValue
from orchestrator.migrations import Phase
from orchestrator.migrations.replication import PassKind, Rehearsal, ReplicationPass

_REPLICATE_KINDS = {PassKind.FULL.value: PassKind.FULL, PassKind.DELTA.value: PassKind.DELTA}
# The phases that sync a cut-over target's data back to the source first.
_UNDOING = frozenset({Phase.ROLLBACK, Phase.REVERT})


def replication_pass(phase: Phase, report: Mapping[str, ReportValue]) -> ReplicationPass | None:
    """The pass ``phase`` reported, if it reported one."""
    sent = _count(report.get("bytes_sent"))
    if sent is None:
        return None
    if phase is Phase.CUTOVER:
        kind = PassKind.FINAL
    elif phase is Phase.REPLICATE:
        kind = _REPLICATE_KINDS.get(str(report.get("replication_pass")), PassKind.FULL)
    elif phase in _UNDOING and report.get("replication_pass") == PassKind.REVERSE.value:
        kind = PassKind.REVERSE
    else:
        return None
    millis = _count(report.get("transfer_ms"))
    return ReplicationPass(kind, sent, None if millis is None else millis / 1000)


def downtime_seconds(phase: Phase, report: Mapping[str, ReportValue]) -> float | None:
    """The downtime a cutover measured, if it measured one."""
    millis = _count(report.get("downtime_ms"))
    return millis / 1000 if phase is Phase.CUTOVER and millis is not None else None


def moves(phase: Phase, outcome: HostOutcome) -> tuple[ReplicationPass | None, float | None]:
    """The pass and the downtime ``outcome`` reported; none from a failed phase, whose
    report is not that phase's result."""
    if not outcome.ok:
        return None, None
    return replication_pass(phase, outcome.report), downtime_seconds(phase, outcome.report)


def rehearsal(phase: Phase, outcome: HostOutcome) -> Rehearsal | None:
    """The result of a rehearsal run, passed or not; None for any other phase."""
    if phase is not Phase.REHEARSE:
        return None
    name = outcome.report.get("rehearsal_name")
    millis = _count(outcome.report.get("rehearsal_ms"))
    return Rehearsal(
        passed=outcome.ok,
        reason="passed" if outcome.ok else _failure(outcome),
        test_name=name if isinstance(name, str) and outcome.ok else None,
        seconds=None if millis is None or not outcome.ok else millis / 1000,
    )


def _failure(outcome: HostOutcome) -> str:
    task = outcome.failed_task or "(no task reported)"
    return f"failed at task {task!r}: {outcome.message or 'the playbook failed'}"


def _count(value: ReportValue | None) -> int | None:
    """A non-negative whole number, or None (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
