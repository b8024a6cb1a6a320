"""The audit's hash chains: what a record's hash covers, and how a chain is checked. Pure.

Every row of the transition audit (state changes, refusals, requests, approvals
and rejections: they all go through ``transitions``) carries ``prev_hash``, the
hash of the record before it in its chain, and ``hash``::

    hash = SHA-256(canonical JSON of {the record's content columns, "prev_hash": prev_hash})

The canonical JSON has sorted keys, no whitespace, UTF-8 text, and ``at`` as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; an amount is a float (downtime) or an
integer (bytes) whatever the caller passed, so the hash of a row read back from
either database is the hash it was written with. The first record of a chain
links to ``GENESIS``. Neither the row's ``id`` nor ``published_at`` (the only
column written after the insert: the outbox marks it) is covered: a chain's
order is its rows' id order, which the links fix.

There is one chain per system id (``system_id``), also for the refusals of a
system that was never registered; its head, the hash of its last record, is
kept apart (``audit_chains``), so cutting a chain's tail is seen too.

``first_break`` walks one chain and names its first broken link: a record whose
``prev_hash`` is not the hash of the record before it (one was deleted or
inserted there), a record whose hash is not its content's (it was altered), or
a chain whose last hash is not its head (its tail was cut, or a record was
appended without the head). Tamper-evident, not tamper-proof: whoever can write
the database and knows this module can recompute a whole chain and its head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# The ``prev_hash`` of a chain's first record (and the head of a chain with none).
GENESIS = "0" * 64

# The columns of ``transitions`` a record's hash covers, beside its ``prev_hash``.
CONTENT_COLUMNS = (
    "system_id",
    "from_state",
    "to_state",
    "refused",
    "cause",
    "at",
    "event_source",
    "event_id",
    "actor",
    "reason",
    "node",
    "requested_by",
    "downtime_seconds",
    "bytes_sent",
    "change_ref",
)


def canonical(content: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes a record's hash is taken of: its content columns and ``prev_hash``."""
    document = {column: _value(column, content.get(column)) for column in CONTENT_COLUMNS}
    document["prev_hash"] = prev_hash
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def link_hash(content: Mapping[str, Any], prev_hash: str) -> str:
    """The hash of a record with ``content`` following a record whose hash is ``prev_hash``."""
    return hashlib.sha256(canonical(content, prev_hash)).hexdigest()


def _value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column == "at":
        return _time(value)
    if column == "refused":
        return bool(value)
    if column == "downtime_seconds":
        return float(value)
    if column == "bytes_sent":
        return int(value)
    return str(value)  # a state enum as its value; text as it is


def _time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("an audit record's time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Link:
    """One stored record of a chain: its id, content and the two hashes stored with it."""

    id: int
    content: Mapping[str, Any]
    prev_hash: str | None
    hash: str | None


class Problem(StrEnum):
    """What is wrong at a chain's first broken link."""

    # The record's prev_hash is not the hash of the record before it: one was
    # deleted before it, or it was inserted.
    LINK = "link"
    # The record's hash is not the hash of its content: it was altered.
    CONTENT = "content"
    # The chain's last hash is not its head: its tail was cut, or a record was
    # appended past the head (or the head is missing).
    HEAD = "head"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first broken link of a chain: where, what, and the hash expected and found there."""

    system_id: str
    record_id: int | None  # None: the chain has no record left at all
    problem: Problem
    expected: str | None  # None: no head is stored for the chain
    found: str | None


def first_break(
    system_id: str, links: Iterable[Link], head: str | None, anchor: str = GENESIS
) -> ChainBreak | None:
    """The first broken link of ``system_id``'s chain (``links`` in id order), or None.

    ``head`` is the stored head of the chain; None when none is stored. ``anchor``
    is what its first record links to: the genesis, or the last pruned record's hash.
    """
    links = list(links)
    found = first_bad_link(system_id, links, anchor)
    if found is not None:
        return found
    last_hash = links[-1].hash if links else anchor
    if head != last_hash:
        return ChainBreak(system_id, links[-1].id if links else None, Problem.HEAD, head, last_hash)
    return None


def first_bad_link(system_id: str, links: Iterable[Link], start: str | None) -> ChainBreak | None:
    """The first link or content break of a run of ``links`` (in id order) whose first
    ``prev_hash`` should be ``start``; no head is checked."""
    expected_prev = start
    for link in links:
        if link.prev_hash != expected_prev:
            return ChainBreak(system_id, link.id, Problem.LINK, expected_prev, link.prev_hash)
        computed = link_hash(link.content, link.prev_hash or "")
        if link.hash != computed:
            return ChainBreak(system_id, link.id, Problem.CONTENT, computed, link.hash)
        expected_prev = computed
    return None


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What a verification found: how many chains and records, and each broken chain's break."""

    chains: int
    records: int
    breaks: tuple[ChainBreak, ...]

    @property
    def intact(self) -> bool:
        """True when no chain is broken."""
        return not self.breaks


def verify_excerpt(links: Iterable[Link]) -> ChainReport:
    """Verify an excerpt of the audit (an export) with no database and no heads.

    Each system's records are walked in id order: every hash must be its
    content's, and each record must link to the one before it. The first
    record's ``prev_hash`` is taken as given (an excerpt may start mid-chain),
    and nothing after the last record is known, so neither end is proven.
    """
    chains: dict[str, list[Link]] = {}
    for link in links:
        chains.setdefault(str(link.content["system_id"]), []).append(link)
    breaks = []
    for key in sorted(chains):
        run = sorted(chains[key], key=lambda link: link.id)
        found = first_bad_link(key, run, run[0].prev_hash)
        if found is not None:
            breaks.append(found)
    records = sum(len(run) for run in chains.values())
    return ChainReport(chains=len(chains), records=records, breaks=tuple(breaks))
