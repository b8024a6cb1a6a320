"""Dead-letter headers: the original is kept byte for byte, the reason travels in headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator.events.codec import KafkaRecord
from orchestrator.reactor import deadletter
from orchestrator.reactor.deadletter import dead_letter, describe, original, rfc3339, strip

NOW = datetime(2025, 1, 31, 8, 0, 0, 123456, tzinfo=UTC)
HEADERS = (("content-type", b"application/cloudevents+json"), ("trace", b"\xff"), ("trace", b""))


def record(key: bytes | None = b"shantou-a", value: bytes | None = b"{oops") -> KafkaRecord:
    return KafkaRecord("govcloud.events", 2, 41, key, value, HEADERS, 1_700_000_000_000)


def test_original_bytes_and_headers_come_first_then_ours() -> None:
    letter = dead_letter(record(), code="not_json", message="line 1: bad", now=NOW)
    assert (letter.key, letter.value) == (b"shantou-a", b"{oops")
    assert letter.headers[: len(HEADERS)] == HEADERS
    assert letter.headers[len(HEADERS) :] == (
        ("govmig_dlq_reason", b"not_json"),
        ("govmig_dlq_message", b"line 1: bad"),
        ("govmig_dlq_topic", b"govcloud.events"),
        ("govmig_dlq_partition", b"2"),
        ("govmig_dlq_offset", b"41"),
        ("govmig_dlq_time", b"2025-01-31T08:00:00.123Z"),
    )


@pytest.mark.parametrize(
    ("key", "value", "expected_value", "marked"),
    [
        (b"k", None, None, False),
        (None, b"v", b"v", False),
        (None, None, b"", True),
    ],
    ids=["tombstone-kept", "no-key-kept", "null-record-marked"],
)
def test_null_key_and_value(
    key: bytes | None, value: bytes | None, expected_value: bytes | None, marked: bool
) -> None:
    letter = dead_letter(record(key, value), code="empty", message="no value", now=NOW)
    assert (letter.key, letter.value) == (key, expected_value)
    assert (("govmig_dlq_null_value", b"1") in letter.headers) is marked


def test_message_is_bounded_and_utf8() -> None:
    letter = dead_letter(record(), code="schema", message="名" * 5000, now=NOW)
    message = dict(letter.headers)["govmig_dlq_message"].decode("utf-8")
    assert message == "名" * deadletter.MAX_MESSAGE_CHARS


def test_replay_restores_the_original() -> None:
    letter = dead_letter(record(), code="not_json", message="bad", now=NOW)
    as_read = KafkaRecord("govcloud.events.dlq", 0, 7, letter.key, letter.value, letter.headers)
    restored = original(as_read)
    assert (restored.key, restored.value, restored.headers) == (b"shantou-a", b"{oops", HEADERS)


def test_describe_reads_our_headers_last_one_wins() -> None:
    forged = (*HEADERS, ("govmig_dlq_reason", b"forged"))
    source = KafkaRecord("govcloud.events", 2, 41, b"shantou-a", b"x", forged)
    letter = dead_letter(source, code="schema", message="data.vcpu: too big", now=NOW)
    view = describe(KafkaRecord("dlq", 0, 7, letter.key, letter.value, letter.headers))
    assert view == deadletter.DeadLetterView(
        partition=0,
        offset=7,
        key="shantou-a",
        reason="schema",
        message="data.vcpu: too big",
        source_topic="govcloud.events",
        source_partition=2,
        source_offset=41,
        time="2025-01-31T08:00:00.123Z",
    )
    assert strip(letter.headers) == HEADERS  # the forged header goes too


def test_describe_a_record_without_our_headers() -> None:
    view = describe(KafkaRecord("dlq", 0, 0, b"\xff", b"x", ()))
    assert (view.key, view.reason, view.source_offset) == ("\\xff", "unknown", None)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 1, 31, 8, 0, tzinfo=UTC), "2025-01-31T08:00:00.000Z"),
        (datetime(2025, 1, 31, 16, 0, 0, 999999, tzinfo=timezone(timedelta(hours=8))),
         "2025-01-31T08:00:00.999Z"),
    ],
    ids=["utc", "china-standard-time"],
)  # fmt: skip
def test_rfc3339_is_utc_with_z(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text


def test_a_value_near_the_broker_limit_is_truncated_and_marked() -> None:
    huge = b"x" * (deadletter.MAX_KEPT_VALUE_BYTES + 10)
    letter = dead_letter(record(value=huge), code="too_large", message="big", now=NOW)
    assert letter.value == huge[: deadletter.MAX_KEPT_VALUE_BYTES]
    assert dict(letter.headers)["govmig_dlq_truncated"] == str(len(huge)).encode()
    exact = b"x" * deadletter.MAX_KEPT_VALUE_BYTES
    kept = dead_letter(record(value=exact), code="too_large", message="big", now=NOW)
    assert kept.value == exact
    assert "govmig_dlq_truncated" not in dict(kept.headers)
