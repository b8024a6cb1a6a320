"""Outcome parsing and secret redaction in ``orchestrator.execution.outcomes``.

The events are trimmed copies of what ansible-runner 2.4 emitted for a real
batch of three systems (one failing in replicate), keeping the keys the
collector reads.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.execution.outcomes import (
    CANCELLED,
    EventCollector,
    HostOutcome,
    failure_message,
)

REPLICA_CHECK = "Check the copy against the source manifest"


def ev(kind: str, **data: Any) -> dict[str, Any]:
    """One runner event, shaped as ansible-runner hands it to an event handler."""
    return {"event": kind, "uuid": "x", "counter": 1, "stdout": "", "event_data": data}


def stats(ok: list[str], failures: dict[str, int], dark: dict[str, int]) -> dict[str, Any]:
    processed = dict.fromkeys([*ok, *failures, *dark], 1)
    return ev(
        "playbook_on_stats",
        ok=dict.fromkeys(ok, 3),
        failures=failures,
        dark=dark,
        processed=processed,
        changed={},
        skipped={},
        rescued={},
        ignored={},
    )


RECORDED_FAILED_BATCH = [
    ev("playbook_on_start", playbook="replicate.yml"),
    ev("playbook_on_task_start", task="Copy the source data to the instance"),
    *(ev("runner_on_start", host=h, task="Copy the source data to the instance") for h in "abc"),
    *(
        ev("runner_on_ok", host=h, task="Copy the source data to the instance", res={})
        for h in "abc"
    ),
    ev("runner_on_skipped", host="a", task="Corrupt one file in transit (failure injection)"),
    ev("runner_on_ok", host="b", task="Corrupt one file in transit (failure injection)", res={}),
    ev("runner_on_skipped", host="c", task="Corrupt one file in transit (failure injection)"),
    ev(
        "runner_on_failed",
        host="b",
        task=REPLICA_CHECK,
        ignore_errors=None,
        res={
            "assertion": "local_manifest_template == lookup(...)",
            "changed": False,
            "evaluated_to": False,
            "msg": "checksum mismatch between the replica and the source manifest",
        },
    ),
    ev("runner_on_ok", host="a", task=REPLICA_CHECK, res={"changed": False}),
    ev("runner_on_ok", host="c", task=REPLICA_CHECK, res={"changed": False}),
    stats(ok=["a", "c"], failures={"b": 1}, dark={}),
]


def collect(events: list[dict[str, Any]], secrets: dict[str, str] | None = None) -> EventCollector:
    collector = EventCollector(secrets=secrets or {})
    for event in events:
        assert collector.on_event(event) is True  # every event is kept in the artifacts
    return collector


def test_one_failing_system_fails_alone() -> None:
    outcomes = collect(RECORDED_FAILED_BATCH).outcomes(["a", "b", "c"], status="failed", rc=2)
    assert outcomes == (
        HostOutcome("a", ok=True),
        HostOutcome(
            "b",
            ok=False,
            failed_task=REPLICA_CHECK,
            message="checksum mismatch between the replica and the source manifest "
            "(failed check: local_manifest_template == lookup(...))",
        ),
        HostOutcome("c", ok=True),
    )


def test_unreachable_host_is_reported_as_such() -> None:
    events = [
        ev("runner_on_unreachable", host="a", task="Ask", res={"msg": "connection refused"}),
        stats(ok=[], failures={}, dark={"a": 1}),
    ]
    (outcome,) = collect(events).outcomes(["a"], status="failed", rc=4)
    assert outcome == HostOutcome(
        "a", ok=False, failed_task="Ask", message="connection refused", unreachable=True
    )


def test_ignored_and_rescued_failures_leave_the_host_ok() -> None:
    events = [
        ev("runner_on_failed", host="a", task="Probe", ignore_errors=True, res={"msg": "no"}),
        ev("runner_on_failed", host="b", task="Try", ignore_errors=None, res={"msg": "no"}),
        stats(ok=["a", "b"], failures={}, dark={}),  # b's failure was rescued
    ]
    outcomes = collect(events).outcomes(["a", "b"], status="successful", rc=0)
    assert [outcome.ok for outcome in outcomes] == [True, True]


@pytest.mark.parametrize(
    ("status", "rc", "expected"),
    [
        ("canceled", 254, CANCELLED),
        ("timeout", 254, "timed out before the phase finished"),
        (
            "failed",
            2,
            "no result: the playbook run ended with status failed (rc=2) before this system",
        ),
    ],
    ids=["cancelled", "timeout", "crashed"],
)
def test_unfinished_systems_say_why(status: str, rc: int, expected: str) -> None:
    events = RECORDED_FAILED_BATCH[:-4]  # cut off before b's failure and the stats
    outcomes = collect(events).outcomes(["a", "b", "c"], status=status, rc=rc)
    assert [(o.ok, o.message) for o in outcomes] == [(False, expected)] * 3


def test_a_recorded_failure_survives_a_cancel() -> None:
    events = RECORDED_FAILED_BATCH[:-3]  # b failed, then the run was cancelled
    outcomes = collect(events).outcomes(["a", "b"], status="canceled", rc=254)
    assert outcomes[0].message == CANCELLED
    assert outcomes[1].failed_task == REPLICA_CHECK


def test_a_host_missing_from_the_stats_is_not_ok() -> None:
    events = [stats(ok=["a"], failures={}, dark={})]
    outcomes = collect(events).outcomes(["a", "z"], status="successful", rc=0)
    assert [outcome.ok for outcome in outcomes] == [True, False]


def test_failure_messages_are_redacted() -> None:
    secret = "tok-9f8e7d"
    events = [
        ev(
            "runner_on_failed",
            host="a",
            task="Place",
            res={"msg": f"cannot write {secret}", "stderr": "govmig_secret_db_password=hunter2"},
        )
    ]
    (outcome,) = collect(events, {"govmig_secret_service_token": secret}).outcomes(
        ["a"], status="failed", rc=2
    )
    assert outcome.message == (
        "cannot write <redacted:govmig_secret_service_token>: govmig_secret_db_password=<redacted>"
    )


@pytest.mark.parametrize(
    ("res", "expected"),
    [
        ({}, "task failed"),
        ({"msg": "boom"}, "boom"),
        (
            {"msg": "non-zero return code", "stderr": "a\nsvcctl start: no service.py\n"},
            "non-zero return code: svcctl start: no service.py",
        ),
        ({"msg": "bad", "assertion": "x == 1"}, "bad (failed check: x == 1)"),
        ({"msg": "line one\n   line two"}, "line one line two"),
        ({"msg": "y" * 2000}, "y" * 500),
    ],
    ids=["empty", "msg", "stderr-last-line", "assertion", "one-line", "bounded"],
)
def test_failure_message(res: dict[str, Any], expected: str) -> None:
    assert failure_message(res) == expected


def test_a_roles_report_is_kept_clean_and_redacted() -> None:
    collector = EventCollector(secrets={"govmig_secret_tsig_key": "s3cr3t"})
    report = {
        "target_host": "shantou-1",
        "bytes_sent": 4096,
        "ipv6_by_name": True,
        "note": "key was s3cr3t",
        "Bad-Key": "dropped",
        "nested": {"dropped": True},
    }
    collector.on_event(
        {
            "event": "runner_on_ok",
            "event_data": {"host": "a", "res": {"ansible_facts": {"govmig_report": report}}},
        }
    )
    collector.on_event(
        {"event": "playbook_on_stats", "event_data": {"processed": {"a": 1}, "failures": {}}}
    )
    (outcome,) = collector.outcomes(["a"], status="successful", rc=0)
    assert outcome.ok
    assert dict(outcome.report) == {
        "target_host": "shantou-1",
        "bytes_sent": 4096,
        "ipv6_by_name": True,
        "note": "key was <redacted:govmig_secret_tsig_key>",
    }
