"""The pydantic models of the contract: bounds, patterns and cross-field rules, at their edges."""

from __future__ import annotations

import re
import typing
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from orchestrator.events.data import (
    MAX_NODE_VCPU,
    MigrationApproved,
    MigrationCancelRequested,
    MigrationRejected,
    MigrationRequested,
    NodeUpdated,
    SystemStatusChanged,
    WaveStatusChanged,
)
from orchestrator.events.envelope import (
    EVENT_CLASSES,
    KNOWN_ATTRIBUTES,
    EventType,
    SystemRegisteredEvent,
    from_wire,
)
from orchestrator.events.fields import PHASES, STATE_PATTERN, STATES
from orchestrator.migrations.states import Phase, SystemState

REQUEST = {"system_id": "st-1", "requested_by": "ops"}
APPROVAL = {"system_id": "st-1", "change_ref": "CHG-2041", "approved_by": "li"}
AT = "2025-03-03T10:00:00Z"
WAVE_HALTED = {"wave": 1, "state": "halted", "at": AT}

CASES: list[tuple[str, type[BaseModel], dict[str, Any], bool]] = [
    ("request minimal", MigrationRequested, REQUEST, True),
    ("request full", MigrationRequested, {**REQUEST, "target_node": "shantou", "wave": 999}, True),
    ("wave 1000", MigrationRequested, {**REQUEST, "wave": 1000}, False),
    ("wave as text", MigrationRequested, {**REQUEST, "wave": "3"}, False),
    ("wave as bool", MigrationRequested, {**REQUEST, "wave": True}, False),
    ("actor in Chinese", MigrationRequested, {**REQUEST, "requested_by": "运维 张伟"}, True),
    ("actor with email", MigrationRequested, {**REQUEST, "requested_by": "a.b@gd.gov.cn"}, True),
    ("actor 64 chars", MigrationRequested, {**REQUEST, "requested_by": "a" * 64}, True),
    ("actor 65 chars", MigrationRequested, {**REQUEST, "requested_by": "a" * 65}, False),
    ("actor empty", MigrationRequested, {**REQUEST, "requested_by": ""}, False),
    ("actor backtick", MigrationRequested, {**REQUEST, "requested_by": "`id`"}, False),
    ("actor Jinja", MigrationRequested, {**REQUEST, "requested_by": "{{ x }}"}, False),
    ("actor tab", MigrationRequested, {**REQUEST, "requested_by": "a\tb"}, False),
    ("actor NEL", MigrationRequested, {**REQUEST, "requested_by": "a\x85b"}, False),
    ("system id uppercase", MigrationRequested, {**REQUEST, "system_id": "ST-1"}, False),
    ("system id 64 chars", MigrationRequested, {**REQUEST, "system_id": "a" * 64}, False),
    ("system id space", MigrationRequested, {**REQUEST, "system_id": "st 1"}, False),
    ("reason 500", MigrationCancelRequested, {**REQUEST, "reason": "x" * 500}, True),
    ("reason 501", MigrationCancelRequested, {**REQUEST, "reason": "x" * 501}, False),
    ("reason two lines", MigrationCancelRequested, {**REQUEST, "reason": "a\r\nb"}, False),
    ("cancel target node", MigrationCancelRequested, {**REQUEST, "target_node": "x"}, False),
    ("approval minimal", MigrationApproved, APPROVAL, True),
    ("approval comment", MigrationApproved, {**APPROVAL, "comment": "演练通过"}, True),
    ("change ref in Chinese", MigrationApproved, {**APPROVAL, "change_ref": "变更 2025/7"}, True),
    ("change ref 64 chars", MigrationApproved, {**APPROVAL, "change_ref": "C" * 64}, True),
    ("change ref 65 chars", MigrationApproved, {**APPROVAL, "change_ref": "C" * 65}, False),
    ("change ref empty", MigrationApproved, {**APPROVAL, "change_ref": ""}, False),
    ("change ref blank", MigrationApproved, {**APPROVAL, "change_ref": "   "}, False),
    ("change ref padded", MigrationApproved, {**APPROVAL, "change_ref": " CHG-1"}, False),
    ("change ref two lines", MigrationApproved, {**APPROVAL, "change_ref": "a\nb"}, False),
    ("change ref shell", MigrationApproved, {**APPROVAL, "change_ref": "CHG;rm"}, False),
    ("approval no change ref", MigrationApproved, {"system_id": "a", "approved_by": "li"}, False),
    ("approval no approver", MigrationApproved, {"system_id": "a", "change_ref": "C"}, False),
    (
        "rejection minimal",
        MigrationRejected,
        {"system_id": "a", "change_ref": "C-1", "rejected_by": "li"},
        True,
    ),
    (
        "rejection by approved_by",
        MigrationRejected,
        {"system_id": "a", "change_ref": "C-1", "approved_by": "li"},
        False,
    ),
    ("node state only", NodeUpdated, {"node_id": "shanwei", "state": "offline"}, True),
    ("node nothing", NodeUpdated, {"node_id": "shanwei", "reason": "r"}, False),
    ("node ratio 16", NodeUpdated, {"node_id": "shanwei", "allocation_ratio_vcpu": 16}, True),
    (
        "node ratio NaN",
        NodeUpdated,
        {"node_id": "shanwei", "allocation_ratio_vcpu": float("nan")},
        False,
    ),
    (
        "node memory ratio 4.5",
        NodeUpdated,
        {"node_id": "shanwei", "allocation_ratio_memory": 4.5},
        False,
    ),
    (
        "node capacity at bound",
        NodeUpdated,
        {"node_id": "x1", "capacity": {"vcpu": MAX_NODE_VCPU, "memory_gb": 1, "storage_gb": 1}},
        True,
    ),
    (
        "node capacity past bound",
        NodeUpdated,
        {"node_id": "x1", "capacity": {"vcpu": MAX_NODE_VCPU + 1, "memory_gb": 1, "storage_gb": 1}},
        False,
    ),
    (
        "node reserved zero",
        NodeUpdated,
        {"node_id": "x1", "reserved": {"vcpu": 0, "memory_gb": 0, "storage_gb": 0}},
        True,
    ),
    (
        "status minimal",
        SystemStatusChanged,
        {"system_id": "a", "to_state": "queued", "at": AT},
        True,
    ),
    (
        "status new state",
        SystemStatusChanged,
        {"system_id": "a", "to_state": "paused", "at": AT},
        True,
    ),
    (
        "status state caps",
        SystemStatusChanged,
        {"system_id": "a", "to_state": "Queued", "at": AT},
        False,
    ),
    (
        "status naive at",
        SystemStatusChanged,
        {"system_id": "a", "to_state": "q", "at": "2025-03-03T10:00:00"},
        False,
    ),
    ("status no at", SystemStatusChanged, {"system_id": "a", "to_state": "queued"}, False),
    (
        "status caused_by path",
        SystemStatusChanged,
        {"system_id": "a", "to_state": "queued", "at": AT, "caused_by": "a/b"},
        False,
    ),
    ("wave halted", WaveStatusChanged, {**WAVE_HALTED, "reason": "1 of 2 over 20%"}, True),
    ("wave halted minimal", WaveStatusChanged, WAVE_HALTED, True),
    (
        "wave resumed",
        WaveStatusChanged,
        {**WAVE_HALTED, "state": "resumed", "requested_by": "ops"},
        True,
    ),
    ("wave state unknown", WaveStatusChanged, {**WAVE_HALTED, "state": "paused"}, False),
    ("wave 0", WaveStatusChanged, {**WAVE_HALTED, "wave": 0}, False),
    ("wave status as text", WaveStatusChanged, {**WAVE_HALTED, "wave": "1"}, False),
    ("wave reason 501", WaveStatusChanged, {**WAVE_HALTED, "reason": "x" * 501}, False),
    ("wave reason two lines", WaveStatusChanged, {**WAVE_HALTED, "reason": "a\nb"}, False),
    ("wave resumer shell", WaveStatusChanged, {**WAVE_HALTED, "requested_by": "$(id)"}, False),
    ("wave no at", WaveStatusChanged, {"wave": 1, "state": "halted"}, False),
    ("wave system id", WaveStatusChanged, {**WAVE_HALTED, "system_id": "a"}, False),
]


@pytest.mark.parametrize(
    ("model", "data", "valid"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_data_models_accept_and_refuse_at_the_edges(
    model: type[BaseModel], data: dict[str, Any], valid: bool
) -> None:
    if valid:
        model.model_validate(data)
    else:
        with pytest.raises(ValidationError):
            model.model_validate(data)


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_each_event_class_is_keyed_by_its_type(kind: EventType) -> None:
    annotation = EVENT_CLASSES[kind].model_fields["type"].annotation
    assert typing.get_args(annotation) == (kind.value,)


def test_documented_states_and_phases_are_the_state_machines() -> None:
    assert tuple(state.value for state in SystemState) == STATES
    assert tuple(phase.value for phase in Phase) == PHASES
    assert all(re.fullmatch(STATE_PATTERN, name) for name in STATES + PHASES)


def test_extensions_may_not_shadow_standard_attributes() -> None:
    base = from_wire(
        {"specversion": "1.0", "id": "e", "source": "/s", "type": "gov.cloud.system.registered"}
    )
    with pytest.raises(ValidationError, match="clash"):
        SystemRegisteredEvent.model_validate({**base, "extensions": {"subject": "x"}})
    assert {"data", "id", "partitionkey"} <= KNOWN_ATTRIBUTES


def test_from_wire_gathers_unknown_attributes_as_extensions() -> None:
    wire = {"specversion": "1.0", "id": "e", "traceparent": "t", "extensions": 1}
    assert from_wire(wire) == {
        "specversion": "1.0",
        "id": "e",
        "extensions": {"traceparent": "t", "extensions": 1},
    }


def test_time_accepts_aware_datetimes_and_refuses_naive_ones() -> None:
    data = {"system_id": "a", "to_state": "queued"}
    assert SystemStatusChanged.model_validate({**data, "at": datetime(2025, 1, 1, tzinfo=UTC)})
    with pytest.raises(ValidationError):
        SystemStatusChanged.model_validate({**data, "at": datetime(2025, 1, 1)})
