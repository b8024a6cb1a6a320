"""What a role reports about replication and downtime, read into domain values."""

from __future__ import annotations

import pytest

from orchestrator.execution.outcomes import ReportValue
from orchestrator.execution.reports import downtime_seconds, replication_pass
from orchestrator.migrations import Phase
from orchestrator.migrations.replication import PassKind, ReplicationPass

FULL_3, FINAL_7 = ReplicationPass(PassKind.FULL, 3), ReplicationPass(PassKind.FINAL, 7)


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
    ],
    ids=["full", "delta-untimed", "no-final-from-replicate", "cutover-final", "no-bytes",
         "negative", "bool", "text", "other-phase"],
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
