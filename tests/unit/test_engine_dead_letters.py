"""Dead letters in the audit: one chained row per dead letter, never sent by the status outbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.engine.dead_letters import (
    UNKEYED_CHAIN,
    DeadLetterAudit,
    dead_letter_entry,
)
from orchestrator.events.codec import KafkaRecord
from orchestrator.events.reasons import Rejection
from orchestrator.store import Store, history, pending_status, verify_chains

AT = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def record(key: bytes | None, *headers: tuple[str, bytes], offset: int = 7) -> KafkaRecord:
    return KafkaRecord("govcloud.events", 2, offset, key, b"{", tuple(headers))


@pytest.mark.parametrize(
    ("key", "chain"),
    [
        (b"shantou-psb-001", "shantou-psb-001"),
        (None, UNKEYED_CHAIN),
        (b"", UNKEYED_CHAIN),
        (b"Not A System", UNKEYED_CHAIN),
        (b"\xff\xfe", UNKEYED_CHAIN),
    ],
    ids=["system-key", "no-key", "empty-key", "not-an-id", "not-utf8"],
)
def test_a_dead_letter_joins_the_chain_its_key_names(key: bytes | None, chain: str) -> None:
    entry = dead_letter_entry(record(key), Rejection("not_json", "line 1: bad"), at=AT)
    assert entry.system_id == chain


def test_the_row_says_why_where_and_what_event_it_was() -> None:
    letter = record(
        b"shantou-psb-001", ("ce_source", b"/cmdb/shantou"), ("ce_id", b"e-1"), ("ce_id", b"e-2")
    )
    entry = dead_letter_entry(letter, Rejection("unknown_node", "node 'x' is unknown"), at=AT)
    assert (entry.cause, entry.actor, entry.event_source, entry.event_id) == (
        "dead_letter",
        "reactor",
        "/cmdb/shantou",
        "e-2",  # the last occurrence, as the DLQ's readers take it
    )
    assert entry.reason == (
        "dead-lettered as unknown_node: node 'x' is unknown (record govcloud.events[2]@7)"
    )
    assert (entry.to_state, entry.published_at) == (None, AT)  # refused; announced on the DLQ
    control = dead_letter_entry(record(b"a", ("ce_id", b"x\ny")), Rejection("schema", "s"), at=AT)
    assert control.event_id is None  # an unprintable header is left out, not audited raw


def test_dead_letters_are_chained_and_never_left_for_the_status_outbox(store: Store) -> None:
    audit = DeadLetterAudit(store)
    audit(
        [
            (record(b"shantou-psb-001"), Rejection("not_json", "bad")),
            (record(None, offset=8), Rejection("too_large", "big")),
        ]
    )
    audit([(record(b"shantou-psb-001", offset=9), Rejection("schema", "no id"))])
    with store.transaction() as session:
        rows = history(session, "shantou-psb-001")
        assert [(row.cause, row.refused) for row in rows] == [("dead_letter", True)] * 2
        assert pending_status(session, 10) == []
        report = verify_chains(session)
    assert (report.chains, report.records, report.intact) == (2, 3, True)
