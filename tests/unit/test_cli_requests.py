"""Turning ``govmig migrate|cancel|...|approve|reject`` arguments into request events, and rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.cli.requests import (
    CLI_SOURCE,
    Action,
    build_approvals,
    build_requests,
    check_approval_targets,
    check_system_ids,
    check_target,
    request_row,
    requests_document,
    requests_table,
    require_change_ref,
    unknown_system_message,
    wave_members,
)
from orchestrator.errors import PermanentError
from orchestrator.events import decode, encode
from orchestrator.events.envelope import EventType

NODES = ("shantou", "shaoguan", "heyuan")
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["shantou-psb-001"], ["shantou-psb-001"]),
        (["a", "b-2", "a"], ["a", "b-2"]),
        (["x" * 63], ["x" * 63]),
    ],
    ids=["one", "repeats-dropped-in-order", "longest"],
)
def test_good_ids_pass(given: list[str], expected: list[str]) -> None:
    assert check_system_ids(given) == expected


@pytest.mark.parametrize(
    ("given", "bad"),
    [
        (["Shantou-1"], ["Shantou-1"]),
        (["ok-1", "bad/id", "-lead", "trail-"], ["bad/id", "-lead", "trail-"]),
        (["x" * 64], ["x" * 64]),
        (["a b"], ["a b"]),
        ([""], [""]),
    ],
    ids=["uppercase", "several-bad", "too-long", "space", "empty"],
)
def test_malformed_ids_are_all_named(given: list[str], bad: list[str]) -> None:
    with pytest.raises(PermanentError) as caught:
        check_system_ids(given)
    lines = str(caught.value).splitlines()
    assert lines == [
        f"malformed system id {system_id!r}: must be a system id: lowercase letters, digits "
        "and inner hyphens, 1-63"
        for system_id in bad
    ]


def test_no_ids_is_an_error() -> None:
    with pytest.raises(PermanentError, match="at least one SYSTEM_ID"):
        check_system_ids([])


def test_a_known_target_passes() -> None:
    assert check_target("heyuan", NODES) == "heyuan"


def test_an_unknown_target_names_the_nodes() -> None:
    with pytest.raises(PermanentError) as caught:
        check_target("guangzhou", NODES)
    assert str(caught.value) == (
        "unknown node 'guangzhou' for --to: the city nodes are heyuan, shantou, shaoguan"
    )


@pytest.mark.parametrize(
    ("action", "options", "kind", "data"),
    [
        (
            Action.MIGRATE,
            {},
            EventType.MIGRATION_REQUESTED,
            {"target_node": None, "wave": None, "reason": None, "change_ref": None},
        ),
        (
            Action.MIGRATE,
            {"target": "shaoguan", "wave": 3, "reason": "机房搬迁", "change_ref": "CHG-2027-001"},
            EventType.MIGRATION_REQUESTED,
            {
                "target_node": "shaoguan",
                "wave": 3,
                "reason": "机房搬迁",
                "change_ref": "CHG-2027-001",
            },
        ),
        (
            Action.CANCEL,
            {},
            EventType.MIGRATION_CANCEL_REQUESTED,
            {"reason": None, "change_ref": None},
        ),
        (
            Action.RETRY,
            {"reason": "disk replaced"},
            EventType.MIGRATION_RETRY_REQUESTED,
            {"reason": "disk replaced", "change_ref": None},
        ),
        (
            Action.ROLLBACK,
            {"reason": "users report errors", "change_ref": "INC-42"},
            EventType.MIGRATION_ROLLBACK_REQUESTED,
            {"reason": "users report errors", "change_ref": "INC-42"},
        ),
        (
            Action.FINALIZE,
            {"change_ref": "CHG-9"},
            EventType.MIGRATION_FINALIZE_REQUESTED,
            {"reason": None, "change_ref": "CHG-9"},
        ),
    ],
    ids=[
        "migrate",
        "migrate-to-wave-with-reason-and-change",
        "cancel",
        "retry-reason",
        "rollback-reason-and-change",
        "finalize-change",
    ],
)
def test_requests_carry_type_key_and_requester(
    action: Action, options: dict[str, Any], kind: EventType, data: dict[str, Any]
) -> None:
    events = build_requests(action, ["mm-1", "mm-2"], requested_by="alice", now=NOW, **options)
    assert [event.type for event in events] == [kind, kind]
    assert [event.subject for event in events] == ["mm-1", "mm-2"]
    assert len({event.id for event in events}) == 2
    for event, system_id in zip(events, ["mm-1", "mm-2"], strict=True):
        assert event.source == CLI_SOURCE
        assert event.time == NOW
        dumped = event.data.model_dump()
        assert dumped == {"system_id": system_id, "requested_by": "alice", **data}
        # What goes on the wire decodes back, with the system id as the Kafka key.
        record = encode(event).as_record("govcloud.events")
        assert record.key == system_id.encode()
        assert decode(record) == event


@pytest.mark.parametrize(
    ("action", "options", "message"),
    [
        (Action.MIGRATE, {"requested_by": "a;b"}, "--requested-by 'a;b': must be one line"),
        (Action.MIGRATE, {"requested_by": ""}, "--requested-by '': must be one line"),
        (Action.CANCEL, {"reason": "two\nlines"}, "--reason 'two\\nlines': must be one line"),
        (Action.RETRY, {"reason": "x" * 501}, "--reason 'xxx"),
        (Action.MIGRATE, {"change_ref": "CHG;7"}, "--change-ref 'CHG;7': must be one line"),
        (Action.CANCEL, {"change_ref": "x" * 65}, "--change-ref 'xxx"),
        (Action.CANCEL, {"target": "shantou"}, "--to and --wave only apply to migrate"),
        (Action.ROLLBACK, {"wave": 2}, "--to and --wave only apply to migrate, not rollback"),
        (Action.MIGRATE, {"wave": 1000}, "--wave 1000: Input should be less than or equal to 999"),
    ],
    ids=[
        "requester-metachar",
        "requester-empty",
        "reason-two-lines",
        "reason-too-long",
        "change-ref-metachar",
        "change-ref-too-long",
        "cancel-has-no-target",
        "rollback-has-no-wave",
        "wave-too-high",
    ],
)
def test_bad_options_are_named(action: Action, options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"requested_by": "alice", **options}
    with pytest.raises(PermanentError) as caught:
        build_requests(action, ["mm-1"], **arguments)
    assert str(caught.value).startswith(message)


def test_rows_and_document_show_what_was_sent() -> None:
    events = build_requests(
        Action.MIGRATE, ["mm-1"], requested_by="bob", target="shantou", wave=2, now=NOW
    )
    row = request_row(events[0])
    assert row == {
        "id": events[0].id,
        "type": "gov.cloud.migration.requested",
        "system_id": "mm-1",
        "platform_id": None,
        "requested_by": "bob",
        "target_node": "shantou",
        "wave": 2,
        "reason": None,
        "change_ref": None,
        "comment": None,
        "at": None,
        "time": "2024-05-01T08:00:00Z",
    }
    assert requests_document(events, topic="t") == {"topic": "t", "sent": 1, "events": [row]}
    assert requests_table(events) == [
        {"system": "mm-1", "request": "gov.cloud.migration.requested", "event id": events[0].id}
    ]


def test_unknown_system_message_says_how_to_register() -> None:
    assert unknown_system_message("x-1") == (
        "unknown system 'x-1': it has not been registered (govmig inventory publish FILE)"
    )


@pytest.mark.parametrize(
    ("action", "kind", "actor_field"),
    [
        (Action.APPROVE, EventType.MIGRATION_APPROVED, "approved_by"),
        (Action.REJECT, EventType.MIGRATION_REJECTED, "rejected_by"),
    ],
    ids=["approve", "reject"],
)
def test_approvals_carry_the_actor_the_change_and_the_comment(
    action: Action, kind: EventType, actor_field: str
) -> None:
    events = build_approvals(
        action, ["mm-1", "mm-2"], actor="bob", change_ref="CHG-7", comment="演练通过", now=NOW
    )
    assert [event.type for event in events] == [kind, kind]
    for event, system_id in zip(events, ["mm-1", "mm-2"], strict=True):
        assert event.data.model_dump() == {
            "system_id": system_id,
            "change_ref": "CHG-7",
            "comment": "演练通过",
            actor_field: "bob",
        }
        assert decode(encode(event).as_record("govcloud.events")) == event
    row = request_row(events[0])
    assert (row["requested_by"], row["change_ref"], row["comment"]) == ("bob", "CHG-7", "演练通过")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"change_ref": " CHG-7"}, "--change-ref ' CHG-7': must be one line of 1-64 characters, "
         "no space at either end"),
        ({"change_ref": "x" * 65}, "--change-ref 'xxx"),
        ({"change_ref": "CHG;7"}, "--change-ref 'CHG;7': must be one line"),
        ({"comment": "two\nlines"}, "--comment 'two\\nlines': must be one line"),
        ({"actor": "a|b"}, "--actor 'a|b': must be one line"),
    ],
    ids=["padded-ref", "long-ref", "shell-ref", "two-line-comment", "bad-actor"],
)  # fmt: skip
def test_bad_approval_options_are_named(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"actor": "bob", "change_ref": "CHG-7", **options}
    with pytest.raises(PermanentError) as caught:
        build_approvals(Action.APPROVE, ["mm-1"], **arguments)
    assert str(caught.value).startswith(message)


def test_an_approval_needs_a_change_ref() -> None:
    assert require_change_ref(Action.APPROVE, "CHG-7") == "CHG-7"
    with pytest.raises(PermanentError) as caught:
        require_change_ref(Action.REJECT, None)
    assert str(caught.value) == "--change-ref is required: the change (ticket) you reject under"


@pytest.mark.parametrize(
    ("system_ids", "wave", "message"),
    [
        (["mm-1"], 3, "give either SYSTEM_IDs or --wave W, not both"),
        ([], None, "name the systems: SYSTEM_ID... or --wave W"),
        (["MM-1"], None, "malformed system id 'MM-1'"),
    ],
    ids=["both", "neither", "malformed"],
)
def test_approval_targets_are_systems_or_a_wave(
    system_ids: list[str], wave: int | None, message: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        check_approval_targets(system_ids, wave)
    assert str(caught.value).startswith(message)


def test_a_wave_names_its_stored_systems_and_an_empty_one_is_an_error() -> None:
    assert check_approval_targets(["mm-1", "mm-1"], None) == ["mm-1"]
    assert check_approval_targets([], 3) == []
    assert wave_members(3, ["mm-1", "mm-2"]) == ["mm-1", "mm-2"]
    with pytest.raises(PermanentError) as caught:
        wave_members(3, [])
    assert str(caught.value) == (
        "wave 3 has no systems in the state database: migrate them with --wave 3 first, "
        "or name the systems"
    )
