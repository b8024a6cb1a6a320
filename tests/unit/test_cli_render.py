"""The rows and JSON documents of ``govmig status`` and ``govmig capacity``, from store records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.capacity import (
    NodeState,
    NodeStatus,
    NodeUsage,
    ResourceClass,
    ResourceInventory,
    Resources,
    allocate,
    empty_usage,
)
from orchestrator.cli.render import (
    ApprovalStatus,
    SystemDetail,
    allocation_document,
    amount_text,
    capacity_document,
    capacity_tables,
    detail_document,
    detail_tables,
    error_lines,
    history_row,
    human_gb,
    iso,
    percent,
    short_time,
    state_text,
    status_document,
    status_table,
    system_row,
    waiting_lines,
)
from orchestrator.migrations.replication import PassKind, Rehearsal, ReplicationPass
from orchestrator.migrations.states import Phase, SystemState
from orchestrator.store import Allocation, SystemRow, TransitionRow
from orchestrator.store.approvals import ApprovalRow
from orchestrator.store.replication import PassRow, RehearsalRow

AT = datetime(2024, 5, 1, 8, 30, 15, 250000, tzinfo=UTC)
VCPU, MEMORY, STORAGE = ResourceClass.VCPU, ResourceClass.MEMORY_GB, ResourceClass.STORAGE_GB


def system(**changes: Any) -> SystemRow:
    fields: dict[str, Any] = {
        "id": "shantou-psb-001",
        "record": {"id": "shantou-psb-001", "name": "Household register", "vcpu": 4},
        "city": "shantou",
        "state": SystemState.PROVISIONING,
        "node": "shantou",
        "wave": 2,
        "phase": Phase.PROVISION,
        "last_error": None,
        "requested_by": "alice",
        "updated_at": AT,
        "version": 3,
    }
    return SystemRow(**(fields | changes))


def transition(number: int, **changes: Any) -> TransitionRow:
    fields: dict[str, Any] = {
        "id": number,
        "system_id": "shantou-psb-001",
        "from_state": SystemState.REGISTERED,
        "to_state": SystemState.QUEUED,
        "refused": False,
        "cause": "migration_requested",
        "at": AT,
        "event_source": "/govmig/cli",
        "event_id": f"e-{number}",
        "actor": "alice",
        "reason": None,
    }
    return TransitionRow(**(fields | changes))


def node(node_id: str, vcpu: int, memory_gb: int, storage_gb: int, **kw: Any) -> NodeUsage:
    inventories: dict[str, ResourceInventory] = {
        VCPU: ResourceInventory(vcpu, reserved=vcpu // 10, allocation_ratio=2.0),
        MEMORY: ResourceInventory(memory_gb),
        STORAGE: ResourceInventory(storage_gb),
    }
    return empty_usage(
        NodeState(node_id, node_id, inventories, kw.get("status", NodeStatus.ONLINE))
    )


@pytest.mark.parametrize(
    ("gb", "text"),
    [
        (0, "0 GB"),
        (850, "850 GB"),
        (1_000, "1.00 TB"),
        (12_500, "12.5 TB"),
        (300_000, "300 TB"),
        (1_250_000, "1.25 PB"),
        (10_000_000, "10.0 PB"),
        (-2_000, "-2.00 TB"),
    ],
    ids=["zero", "gb", "one-tb", "tens-of-tb", "hundreds-of-tb", "pb", "plan-storage", "negative"],
)
def test_human_gb_is_decimal(gb: int, text: str) -> None:
    assert human_gb(gb) == text


@pytest.mark.parametrize(
    ("resource", "amount", "text"),
    [(VCPU, 100_000, "100,000"), (MEMORY, 300_000, "300 TB"), (STORAGE, 10_000_000, "10.0 PB")],
    ids=["vcpu-is-a-count", "memory", "storage"],
)
def test_amount_text(resource: ResourceClass, amount: int, text: str) -> None:
    assert amount_text(resource, amount) == text


def test_times_and_percentages() -> None:
    assert iso(AT) == "2024-05-01T08:30:15.250000Z"
    assert short_time(AT) == "2024-05-01 08:30:15Z"
    assert short_time(AT, seconds=False) == "2024-05-01 08:30Z"
    assert percent(0.4567) == "45.7%"


def test_system_row_and_status_documents() -> None:
    row = system_row(system())
    assert row == {
        "id": "shantou-psb-001",
        "name": "Household register",
        "city": "shantou",
        "state": "provisioning",
        "node": "shantou",
        "phase": "provision",
        "wave": 2,
        "last_error": None,
        "waiting": None,
        "cutover_at": None,
        "requested_by": "alice",
        "target_host": None,
        "ipv6_address": None,
        "downtime_seconds": None,
        "updated_at": "2024-05-01T08:30:15.250000Z",
    }
    assert status_document([system()]) == {"systems": [row]}
    held = system(state=SystemState.READY, waiting="approval: its policy needs an approval")
    assert waiting_lines([held, system()]) == [
        "shantou-psb-001: approval: its policy needs an approval"
    ]
    failed = system(state=SystemState.FAILED, phase=Phase.ROLLBACK, last_error="rollback failed")
    assert status_table([failed, system()]) == [
        {
            "system": "shantou-psb-001",
            "state": "failed (rollback)",
            "node": "shantou",
            "wave": 2,
            "updated": "2024-05-01 08:30Z",
        },
        {
            "system": "shantou-psb-001",
            "state": "provisioning",
            "node": "shantou",
            "wave": 2,
            "updated": "2024-05-01 08:30Z",
        },
    ]
    assert error_lines([failed, system()]) == ["shantou-psb-001: rollback failed"]


@pytest.mark.parametrize(
    ("state", "phase", "text"),
    [
        (SystemState.REGISTERED, None, "registered"),
        (SystemState.PROVISIONING, Phase.PROVISION, "provisioning"),
        (SystemState.ROLLING_BACK, Phase.ROLLBACK, "rolling_back"),
        (SystemState.FAILED, Phase.ROLLBACK, "failed (rollback)"),
        (SystemState.ROLLING_BACK, Phase.CUTOVER, "rolling_back (cutover)"),
    ],
    ids=["no-phase", "implied", "implied-rollback", "failed-in-rollback", "unexpected-phase"],
)
def test_state_text_shows_a_phase_the_state_does_not_imply(
    state: SystemState, phase: Phase | None, text: str
) -> None:
    assert state_text(system(state=state, phase=phase)) == text


def test_detail_has_record_allocation_and_history() -> None:
    held = Allocation("shantou-psb-001", "shantou", {VCPU: 4, MEMORY: 32, STORAGE: 18_200}, AT)
    audit = [
        transition(1),
        transition(2, to_state=None, refused=True, reason="not allowed in queued", actor="bob"),
    ]
    detail = SystemDetail(system(), held, passes=[], history=audit)
    document = detail_document(detail)
    assert document["system"] == system_row(system())
    assert document["record"]["vcpu"] == 4
    assert document["allocation"] == {
        "node": "shantou",
        "vcpu": 4,
        "memory_gb": 32,
        "storage_gb": 18_200,
        "allocated_at": "2024-05-01T08:30:15.250000Z",
    }
    assert [row["to_state"] for row in document["history"]] == ["queued", None]
    assert document["history"][1]["refused"] is True
    assert history_row(audit[0]) == {
        "id": 1,
        "at": "2024-05-01T08:30:15.250000Z",
        "from_state": "registered",
        "to_state": "queued",
        "refused": False,
        "cause": "migration_requested",
        "actor": "alice",
        "reason": None,
        "event_source": "/govmig/cli",
        "event_id": "e-1",
        "change_ref": None,
    }
    titles = [title for title, _ in detail_tables(detail)]
    assert titles == ["System shantou-psb-001", "Allocation", "History of shantou-psb-001"]
    history = detail_tables(detail)[2][1]
    assert [line["change"] for line in history] == [
        "registered → queued",
        "registered → (refused)",
    ]
    assert [line["refused"] for line in history] == ["", "yes"]
    assert detail_tables(detail)[1][1] == [
        {
            "node": "shantou",
            "vcpu": "4",
            "memory_gb": "32 GB",
            "storage_gb": "18.2 TB",
            "allocated": "2024-05-01 08:30:15Z",
        }
    ]


def test_detail_without_allocation_or_history() -> None:
    document = detail_document(SystemDetail(system(node=None), None, passes=[], history=[]))
    assert (document["allocation"], document["history"]) == (None, [])
    assert document["replication_passes"] == []
    titles = [title for title, _ in detail_tables(SystemDetail(system(), None, [], []))]
    assert titles == ["System shantou-psb-001", "History of shantou-psb-001"]
    assert allocation_document(None) is None


def test_detail_shows_the_replication_passes_and_the_downtime() -> None:
    passes = [
        PassRow(ReplicationPass(PassKind.FULL, 65_943, 0.412), AT),
        PassRow(ReplicationPass(PassKind.FINAL, 1_203, None), AT),
    ]
    detail = SystemDetail(system(downtime_seconds=1.25), None, passes=passes, history=[])
    document = detail_document(detail)
    assert document["system"]["downtime_seconds"] == 1.25
    at = "2024-05-01T08:30:15.250000Z"
    assert document["replication_passes"] == [
        {"kind": "full", "bytes_sent": 65_943, "seconds": 0.412, "at": at},
        {"kind": "final", "bytes_sent": 1_203, "seconds": None, "at": at},
    ]
    tables = dict(detail_tables(detail))
    assert tables["Replication of shantou-psb-001"] == [
        {
            "at": "2024-05-01 08:30:15Z",
            "pass": "full",
            "bytes": "65,943",
            "took": "0.41 s",
            "rate": "1.3 Mbit/s",
        },
        {"at": "2024-05-01 08:30:15Z", "pass": "final", "bytes": "1,203", "took": "-", "rate": "-"},
    ]


def test_detail_shows_the_replicas_age_last_delta_and_cutover_forecast() -> None:
    passes = [
        PassRow(ReplicationPass(PassKind.FULL, 65_943, 4.0), AT),
        PassRow(ReplicationPass(PassKind.DELTA, 812, 0.5), AT + timedelta(seconds=30)),
    ]
    now = AT + timedelta(seconds=42)
    detail = SystemDetail(system(), None, passes=passes, history=[], now=now)
    # 0.5 s x the safety factor 2, plus 2 s of service start.
    assert detail_document(detail)["replica"] == {
        "age_seconds": 12.0,
        "last_delta_seconds": 0.5,
        "cutover_forecast_seconds": 3.0,
    }
    assert dict(detail_tables(detail))["Replica of shantou-psb-001"] == [
        {"age": "12.0 s", "last delta": "0.5 s", "cutover forecast": "3.0 s"}
    ]
    only_full = SystemDetail(system(), None, passes=passes[:1], history=[], now=now)
    assert detail_document(only_full)["replica"]["cutover_forecast_seconds"] is None
    # A passed rehearsal measured the service's start: it replaces the 2 s estimate.
    rehearsed = RehearsalRow(Rehearsal(True, "passed", "t.rehearsal", 0.7), AT)
    measured = SystemDetail(system(), None, passes, history=[], rehearsal=rehearsed, now=now)
    assert detail_document(measured)["replica"]["cutover_forecast_seconds"] == 1.7
    assert detail_document(measured)["rehearsal"] == {
        "passed": True,
        "reason": "passed",
        "test_name": "t.rehearsal",
        "seconds": 0.7,
        "at": "2024-05-01T08:30:15.250000Z",
    }
    assert dict(detail_tables(measured))["Last rehearsal of shantou-psb-001"] == [
        {"at": "2024-05-01 08:30:15Z", "result": "passed", "test name": "t.rehearsal",
         "reason": "passed"}
    ]  # fmt: skip
    failed = RehearsalRow(Rehearsal(False, "failed at task 'Check': no answer", None, None), AT)
    unmeasured = SystemDetail(system(), None, passes, history=[], rehearsal=failed, now=now)
    assert detail_document(unmeasured)["replica"]["cutover_forecast_seconds"] == 3.0


def test_detail_shows_whether_an_approval_is_needed_and_the_live_one() -> None:
    granted = ApprovalRow(7, "shantou-psb-001", "bob", "CHG-2041", "rehearsed", AT)
    ttl = timedelta(hours=72)
    approved = SystemDetail(
        system(), None, [], [], approval=ApprovalStatus(needed=True, live=granted, ttl=ttl)
    )
    assert detail_document(approved)["approval"] == {
        "needed": True,
        "live": {
            "approved_by": "bob",
            "change_ref": "CHG-2041",
            "comment": "rehearsed",
            "granted_at": "2024-05-01T08:30:15.250000Z",
            "expires_at": "2024-05-04T08:30:15.250000Z",
        },
    }
    assert dict(detail_tables(approved))["Approval of shantou-psb-001"] == [
        {"needed": "yes", "approved by": "bob", "change": "CHG-2041",
         "granted": "2024-05-01 08:30:15Z", "expires": "2024-05-04 08:30:15Z"}
    ]  # fmt: skip
    waiting = SystemDetail(
        system(), None, [], [], approval=ApprovalStatus(needed=False, live=None, ttl=ttl)
    )
    assert detail_document(waiting)["approval"] == {"needed": False, "live": None}
    assert dict(detail_tables(waiting))["Approval of shantou-psb-001"] == [
        {"needed": "no", "approved by": None, "change": None, "granted": None, "expires": None}
    ]
    audited = transition(3, cause="approve", actor="bob", change_ref="CHG-2041")
    assert history_row(audited)["change_ref"] == "CHG-2041"


def test_capacity_document_counts_allocatable_allocated_and_free() -> None:
    shantou = allocate(
        node("shantou", 1000, 4000, 100_000), "s-1", Resources(100, 400, 500).amounts()
    )
    shaoguan = node("shaoguan", 500, 1000, 50_000, status=NodeStatus.DRAINING)
    document = capacity_document([shantou, shaoguan])
    first = document["nodes"][0]
    assert (first["node"], first["status"], first["systems"]) == ("shantou", "online", 1)
    # (1000 - 100 reserved) x 2.0 = 1800 allocatable vCPU.
    assert first["vcpu"] == {
        "total": 1000,
        "reserved": 100,
        "allocation_ratio": 2.0,
        "allocatable": 1800,
        "allocated": 100,
        "free": 1700,
        "utilisation": round(100 / 1800, 6),
    }
    assert first["memory_gb"]["free"] == 3600
    assert document["nodes"][1]["status"] == "draining"
    total = document["total"]
    assert total["systems"] == 1
    assert total["vcpu"]["allocatable"] == 1800 + 900
    assert total["storage_gb"]["allocated"] == 500
    assert total["vcpu"]["plan"] == 100_000
    assert document["plan"] == {"vcpu": 100_000, "memory_gb": 300_000, "storage_gb": 10_000_000}


def test_capacity_tables_show_decimal_units_totals_and_plan() -> None:
    shantou = node("shantou", 1000, 30_000, 1_000_000)
    tables = capacity_tables(capacity_document([shantou]))
    assert [title for title, _ in tables] == [
        "vCPU",
        "Memory (decimal units)",
        "Storage (decimal units)",
    ]
    memory = tables[1][1]
    assert [line["node"] for line in memory] == ["shantou", "total", "plan"]
    assert memory[0] == {
        "node": "shantou",
        "status": "online",
        "total": "30.0 TB",
        "allocatable": "30.0 TB",
        "allocated": "0 GB",
        "free": "30.0 TB",
        "used": "0.0%",
    }
    assert tables[2][1][2] == {"node": "plan", "total": "10.0 PB"}
    assert tables[0][1][1]["total"] == "1,000"
