"""The audit's hash chain, pure: what a hash covers, and the first broken link of a chain."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from orchestrator.store.chain import (
    CONTENT_COLUMNS,
    GENESIS,
    ChainBreak,
    Link,
    Problem,
    canonical,
    first_break,
    link_hash,
)

AT = datetime(2026, 12, 1, 8, 30, 15, 250000, tzinfo=UTC)


def content(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(CONTENT_COLUMNS)
    base |= {"system_id": "gz-tax", "from_state": "registered", "to_state": "queued"}
    base |= {"refused": False, "cause": "migrate", "at": AT, "actor": "alice"}
    return base | changes


def chain(*contents: dict[str, Any]) -> list[Link]:
    links, prev = [], GENESIS
    for index, each in enumerate(contents, start=1):
        this = link_hash(each, prev)
        links.append(Link(id=index * 10, content=each, prev_hash=prev, hash=this))
        prev = this
    return links


def test_the_hash_is_sha256_of_sorted_compact_json_with_utc_microseconds() -> None:
    text = canonical(content(), GENESIS).decode()
    assert text.startswith('{"actor":"alice","at":"2026-12-01T08:30:15.250000Z",')
    tail = '"reason":null,"refused":false,"requested_by":null,"system_id":"gz-tax",'
    tail += '"to_state":"queued"}'
    assert text.endswith(f'"prev_hash":"{GENESIS}",{tail}')
    assert link_hash(content(), GENESIS) == hashlib.sha256(text.encode()).hexdigest()


def test_the_same_moment_in_another_zone_and_amounts_as_read_back_hash_alike() -> None:
    elsewhere = AT.astimezone(timezone(timedelta(hours=8)))
    written = content(downtime_seconds=2, bytes_sent=1024)
    read_back = content(at=elsewhere, downtime_seconds=2.0, bytes_sent=1024)
    assert link_hash(written, GENESIS) == link_hash(read_back, GENESIS)


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "x"},
        {"actor": "mallory"},
        {"refused": True},
        {"at": AT + timedelta(microseconds=1)},
    ],
)
def test_every_content_column_and_the_previous_hash_are_covered(change: dict[str, Any]) -> None:
    assert link_hash(content(**change), GENESIS) != link_hash(content(), GENESIS)
    assert link_hash(content(), "1" * 64) != link_hash(content(), GENESIS)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        link_hash(content(at=AT.replace(tzinfo=None)), GENESIS)


def test_an_intact_chain_and_an_empty_one_have_no_break() -> None:
    links = chain(content(), content(cause="start"), content(cause="retry"))
    assert first_break("gz-tax", links, links[-1].hash) is None
    assert first_break("gz-tax", [], GENESIS) is None


def test_an_altered_record_breaks_at_its_content() -> None:
    links = chain(content(), content(cause="start"), content(cause="retry"))
    altered = replace(links[1], content=content(cause="start", actor="mallory"))
    found = first_break("gz-tax", [links[0], altered, links[2]], links[-1].hash)
    expected = link_hash(altered.content, links[0].hash or "")
    assert found == ChainBreak("gz-tax", 20, Problem.CONTENT, expected, links[1].hash)


def test_a_deleted_middle_record_breaks_the_link_of_the_one_after_it() -> None:
    links = chain(content(), content(cause="start"), content(cause="retry"))
    found = first_break("gz-tax", [links[0], links[2]], links[-1].hash)
    assert found == ChainBreak("gz-tax", 30, Problem.LINK, links[0].hash, links[1].hash)


def test_a_cut_tail_and_an_appended_record_break_at_the_head() -> None:
    links = chain(content(), content(cause="start"), content(cause="retry"))
    cut = first_break("gz-tax", links[:2], links[-1].hash)
    assert cut == ChainBreak("gz-tax", 20, Problem.HEAD, links[-1].hash, links[1].hash)
    gone = first_break("gz-tax", [], links[-1].hash)
    assert gone == ChainBreak("gz-tax", None, Problem.HEAD, links[-1].hash, GENESIS)
    headless = first_break("gz-tax", links, None)
    assert headless == ChainBreak("gz-tax", 30, Problem.HEAD, None, links[-1].hash)


def test_a_forged_record_breaks_where_it_stands() -> None:
    links = chain(content(), content(cause="start"))
    forged = Link(id=15, content=content(cause="approve"), prev_hash=links[0].hash, hash="f" * 64)
    found = first_break("gz-tax", [links[0], forged, links[1]], links[-1].hash)
    assert found is not None
    assert (found.record_id, found.problem, found.found) == (15, Problem.CONTENT, "f" * 64)
