"""What a role reports about replication and downtime, read into domain values."""

from __future__ import annotations

import pytest

from orchestrator.execution.outcomes import HostOutcome, ReportValue
from orchestrator.execution.reports import downtime_seconds, rehearsal, replication_pass
from orchestrator.migrations import Phase
from orchestrator.migrations.replication import PassKind, Rehearsal, ReplicationPass

FULL_3, FINAL_7 = ReplicationPass(PassKind.FULL, 3), ReplicationPass(PassKind.FINAL, 7)
REVERSE_3 = ReplicationPass(PassKind.REVERSE, 3)


@pytest.mark.parametrize(
    ("phase", "report", "expected"),
    [
        (
            Phase.REPLICATE,
            {"replication_pass": "full", "bytes_sent": 10, "transfer_ms": 1500},
            ReplicationPass(PassKind.FULL, 10, 1.5),
        ),
        (
            Phase.REPLICATE,
            {"replication_pass": "delta", "bytes_sent": 3},
            ReplicationPass(PassKind.DELTA, 3, None),
        ),
        # A pass of another name is read as full: a replicate pass never claims to be final.
        (Phase.REPLICATE, {"replication_pass": "final", "bytes_sent": 3}, FULL_3),
        (Phase.CUTOVER, {"replication_pass": "delta", "bytes_sent": 7}, FINAL_7),
        (Phase.REPLICATE, {"transfer_ms": 5}, None),
        (Phase.REPLICATE, {"bytes_sent": -1}, None),
        (Phase.REPLICATE, {"bytes_sent": True}, None),
        (Phase.REPLICATE, {"bytes_sent": "10"}, None),
        (Phase.VERIFY, {"bytes_sent": 10}, None),
        (
            Phase.REVERT,
            {"replication_pass": "reverse", "bytes_sent": 4, "transfer_ms": 250},
            ReplicationPass(PassKind.REVERSE, 4, 0.25),
        ),
        (Phase.ROLLBACK, {"replication_pass": "reverse", "bytes_sent": 3}, REVERSE_3),
        # A rollback that did not sync back (the name never reached the target) sent nothing.
        (Phase.ROLLBACK, {"bytes_sent": 3}, None),
    ],
    ids=["full", "delta-untimed", "no-final-from-replicate", "cutover-final", "no-bytes",
         "negative", "bool", "text", "other-phase", "revert-reverse", "rollback-reverse",
         "rollback-no-sync"],
)  # fmt: skip
def test_a_pass_is_read_only_from_a_well_formed_report(
    phase: Phase, report: dict[str, ReportValue], expected: ReplicationPass | None
) -> None:
    assert replication_pass(phase, report) == expected


def test_downtime_is_read_only_from_a_cutover() -> None:
    assert downtime_seconds(Phase.CUTOVER, {"downtime_ms": 1250}) == 1.25
    assert downtime_seconds(Phase.VERIFY, {"downtime_ms": 1250}) is None
    assert downtime_seconds(Phase.CUTOVER, {"downtime_ms": "1250"}) is None
    assert downtime_seconds(Phase.CUTOVER, {}) is None


def test_a_rehearsal_is_read_passed_or_failed_only_from_its_phase() -> None:
    report: dict[str, ReportValue] = {"rehearsal_name": "a.rehearsal.lab", "rehearsal_ms": 840}
    passed = HostOutcome("a", ok=True, report=report)
    assert rehearsal(Phase.REHEARSE, passed) == Rehearsal(True, "passed", "a.rehearsal.lab", 0.84)
    failed = HostOutcome("a", ok=False, failed_task="Check by name", message="no answer")
    assert rehearsal(Phase.REHEARSE, failed) == Rehearsal(
        False, "failed at task 'Check by name': no answer"
    )
    assert rehearsal(Phase.VERIFY, passed) is None
