"""The append-only transition audit: every state change, and every refused request.

The engine writes one row per decision of the state machine in the same
transaction as the state change itself, so the audit and the state never
disagree. Rows are never deleted, and only ``published_at`` is ever updated:
the audit is also the status outbox (``orchestrator.store.outbox``).

``append_audit`` appends the engine's entries in one statement; ``history``
reads a system's rows back, oldest first.

Each system's rows form a hash chain (``store.chain``): ``append_audit`` locks
the heads of the chains it extends (``audit_chains``, ``SELECT ... FOR UPDATE``
in system id order), links the new rows to them, inserts the rows and moves the
heads, all in the caller's transaction. So two instances writing one system's
audit at once take turns at its head, and a row's id, taken after the lock, is
above every row its chain had: the chain's order is its id order. Writers of
different systems never wait for each other. On SQLite every writer already
holds the database (``BEGIN IMMEDIATE``). ``verify_chains`` walks the chains.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from orchestrator.migrations.states import SystemState
from orchestrator.store._sql import as_utc, insert_many_if_absent, rows, stored_time
from orchestrator.store.chain import (
    CONTENT_COLUMNS,
    GENESIS,
    ChainReport,
    Link,
    first_break,
    link_hash,
)
from orchestrator.store.records import TransitionRow
from orchestrator.store.tables import AuditChainTable, TransitionTable

_TRANSITIONS = cast(Table, TransitionTable.__table__)
# SQLite allows 32,766 bound parameters and PostgreSQL 65,535: stay well below both.
_IN_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row to append: a change (``to_state`` set) or a refusal (``to_state`` None)."""

    system_id: str
    from_state: SystemState | None
    to_state: SystemState | None
    reason: str | None
    cause: str | None = None
    actor: str | None = None
    event_source: str | None = None
    event_id: str | None = None
    node: str | None = None
    requested_by: str | None = None
    at: datetime | None = None
    downtime_seconds: float | None = None
    bytes_sent: int | None = None
    change_ref: str | None = None
    # Set for a row announced elsewhere already (a dead letter, on the DLQ topic), so the
    # status outbox never sends it. Not part of the hashed content.
    published_at: datetime | None = None
    # None: refused when it changed no state. A record that is no request (a prune) says so.
    refused: bool | None = None

    def values(self) -> dict[str, Any]:
        """The row's column values."""
        return {
            "system_id": self.system_id,
            "from_state": None if self.from_state is None else SystemState(self.from_state).value,
            "to_state": None if self.to_state is None else SystemState(self.to_state).value,
            "refused": self.to_state is None if self.refused is None else self.refused,
            "cause": self.cause,
            "at": stored_time(self.at),
            "event_source": self.event_source,
            "event_id": self.event_id,
            "actor": self.actor,
            "reason": self.reason,
            "node": self.node,
            "requested_by": self.requested_by,
            "downtime_seconds": self.downtime_seconds,
            "bytes_sent": self.bytes_sent,
            "change_ref": self.change_ref,
            "published_at": None if self.published_at is None else stored_time(self.published_at),
        }


def append_audit(session: Session, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in order, in one multi-row INSERT (ids increase in that order).

    Each row is linked into its system's hash chain, whose head moves with it.
    """
    if not entries:
        return
    values = [entry.values() for entry in entries]
    heads = _lock_heads(session, {row["system_id"] for row in values})
    moved = dict(heads)
    for row in values:
        row["prev_hash"] = moved[row["system_id"]]
        row["hash"] = moved[row["system_id"]] = link_hash(row, row["prev_hash"])
    # Core executemany: ORM bulk inserts cost a dictionary walk per row.
    session.connection().execute(insert(_TRANSITIONS), values)
    chains = cast(Table, AuditChainTable.__table__)
    statement = (
        update(chains)
        .where(chains.c.system_id == bindparam("chain"))
        .values(head=bindparam("new_head"))
    )
    session.connection().execute(
        statement, [{"chain": key, "new_head": moved[key]} for key in sorted(moved)]
    )


def _lock_heads(session: Session, system_ids: set[str]) -> dict[str, str]:
    """The heads of ``system_ids``' chains, locked until the transaction ends.

    A chain seen for the first time gets its head row (at ``GENESIS``) first;
    a concurrent creator of the same row is waited for, then its head is read.
    """
    heads = _read_heads(session, system_ids, lock=True)
    missing = system_ids - heads.keys()
    if missing:
        new = [{"system_id": key, "head": GENESIS} for key in sorted(missing)]
        insert_many_if_absent(session, AuditChainTable, new, returning=(AuditChainTable.system_id,))
        heads |= _read_heads(session, missing, lock=True)
    return heads


def _read_heads(session: Session, system_ids: Iterable[str], *, lock: bool) -> dict[str, str]:
    wanted = sorted(set(system_ids))
    heads: dict[str, str] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        statement = (
            select(AuditChainTable.system_id, AuditChainTable.head)
            .where(AuditChainTable.system_id.in_(chunk))
            .order_by(AuditChainTable.system_id)  # one lock order for every writer
        )
        if lock:  # FOR UPDATE on PostgreSQL; SQLite's writer holds the whole database
            statement = statement.with_for_update()
        heads.update((key, head) for key, head in rows(session, statement))
    return heads


def verify_chains(session: Session, *, system_id: str | None = None) -> ChainReport:
    """Walk every audit chain (or ``system_id``'s) and report each one's first broken link.

    Reads the rows in (system, id) order, one chain at a time, holding no lock.
    A chain whose records are all gone is reported too, when its head remains.
    """
    ends = _chain_ends(session, system_id)
    statement = _links_query(system_id).order_by(_TRANSITIONS.c.system_id, _TRANSITIONS.c.id)
    chains, records, breaks = 0, 0, []
    walked: set[str] = set()
    for key, group in groupby(rows(session, statement), key=lambda row: row.system_id):
        links = [_link(row) for row in group]
        chains, records = chains + 1, records + len(links)
        walked.add(key)
        head, anchor = ends.get(key, (None, GENESIS))
        found = first_break(key, links, head, anchor)
        if found is not None:
            breaks.append(found)
    for key in sorted(ends.keys() - walked):  # a head whose whole chain is gone (or pruned)
        chains += 1
        found = first_break(key, [], *ends[key])
        if found is not None:
            breaks.append(found)
    return ChainReport(chains=chains, records=records, breaks=tuple(breaks))


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What a prune removed: records, from how many chains, recorded before ``before``."""

    records: int
    chains: int
    before: datetime


def prune_audit(session: Session, *, before: datetime) -> PruneReport:
    """Remove each chain's oldest records recorded before ``before``, keeping it verifiable.

    Only a chain's leading run goes: records in id order up to the first one that
    is recent, or not published yet (the status outbox still needs it). The
    chain's anchor moves to the last removed record's hash, under the same head
    lock writers take, so the records kept still verify. The caller checks the
    retention; this removes what it is told.
    """
    cutoff = stored_time(before)
    keepers = {row[0]: row[1] for row in rows(session, _first_keepers(cutoff))}
    candidates = (
        select(_TRANSITIONS.c.system_id, _TRANSITIONS.c.id, _TRANSITIONS.c.hash)
        .where(_TRANSITIONS.c.at < cutoff, _TRANSITIONS.c.published_at.is_not(None))
        .order_by(_TRANSITIONS.c.system_id, _TRANSITIONS.c.id)
    )
    removed: list[int] = []
    anchors: dict[str, str] = {}
    for key, group in groupby(rows(session, candidates), key=lambda row: row.system_id):
        keeper = keepers.get(key)
        run = [row for row in group if keeper is None or row.id < keeper]
        if run:
            removed += [row.id for row in run]
            anchors[key] = run[-1].hash
    if not anchors:
        return PruneReport(records=0, chains=0, before=before)
    _lock_heads(session, set(anchors))
    for start in range(0, len(removed), _IN_CHUNK):
        chunk = removed[start : start + _IN_CHUNK]
        session.connection().execute(delete(_TRANSITIONS).where(_TRANSITIONS.c.id.in_(chunk)))
    chains = cast(Table, AuditChainTable.__table__)
    session.connection().execute(
        update(chains)
        .where(chains.c.system_id == bindparam("chain"))
        .values(anchor=bindparam("new_anchor")),
        [{"chain": key, "new_anchor": anchor} for key, anchor in sorted(anchors.items())],
    )
    return PruneReport(records=len(removed), chains=len(anchors), before=before)


def _first_keepers(cutoff: datetime) -> Select[Any]:
    """Per chain, its first record that must stay: recent, or not published yet."""
    kept = or_(_TRANSITIONS.c.at >= cutoff, _TRANSITIONS.c.published_at.is_(None))
    return (
        select(_TRANSITIONS.c.system_id, func.min(_TRANSITIONS.c.id))
        .where(kept)
        .group_by(_TRANSITIONS.c.system_id)
    )


def audit_links(
    session: Session,
    *,
    system_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Link]:
    """The audit records (all, or ``system_id``'s) at or after ``since`` and before
    ``until``, oldest first by id, each with its content and hashes: what an export holds."""
    statement = _links_query(system_id).order_by(_TRANSITIONS.c.id)
    if since is not None:
        statement = statement.where(_TRANSITIONS.c.at >= stored_time(since))
    if until is not None:
        statement = statement.where(_TRANSITIONS.c.at < stored_time(until))
    for row in rows(session, statement):
        yield _link(row)


def _links_query(system_id: str | None) -> Select[Any]:
    columns = [_TRANSITIONS.c[name] for name in (*CONTENT_COLUMNS, "id", "prev_hash", "hash")]
    statement = select(*columns)
    if system_id is not None:
        statement = statement.where(_TRANSITIONS.c.system_id == system_id)
    return statement


def _chain_ends(session: Session, system_id: str | None) -> dict[str, tuple[str, str]]:
    """Each chain's (head, anchor)."""
    statement = select(AuditChainTable.system_id, AuditChainTable.head, AuditChainTable.anchor)
    if system_id is not None:
        statement = statement.where(AuditChainTable.system_id == system_id)
    return {row.system_id: (row.head, row.anchor) for row in rows(session, statement)}


def _link(row: Row[Any]) -> Link:
    content = {column: getattr(row, column) for column in CONTENT_COLUMNS}
    content["at"] = as_utc(row.at)  # SQLite hands back naive UTC times
    return Link(id=row.id, content=content, prev_hash=row.prev_hash, hash=row.hash)


def history(session: Session, system_id: str, *, limit: int | None = None) -> list[TransitionRow]:
    """The audit of ``system_id``, oldest first (the last ``limit`` rows if given)."""
    statement = select(TransitionTable).where(TransitionTable.system_id == system_id)
    if limit is None:
        rows = list(session.scalars(statement.order_by(TransitionTable.id)))
    else:
        newest = statement.order_by(TransitionTable.id.desc()).limit(limit)
        rows = list(reversed(list(session.scalars(newest))))
    return [to_transition_row(row) for row in rows]


def to_transition_row(row: TransitionTable | Row[Any]) -> TransitionRow:
    """The frozen record of a loaded audit row (an ORM object or a plain row of its columns)."""
    return TransitionRow(
        id=row.id,
        system_id=row.system_id,
        from_state=None if row.from_state is None else SystemState(row.from_state),
        to_state=None if row.to_state is None else SystemState(row.to_state),
        refused=row.refused,
        cause=row.cause,
        at=as_utc(row.at),
        event_source=row.event_source,
        event_id=row.event_id,
        actor=row.actor,
        reason=row.reason,
        node=row.node,
        requested_by=row.requested_by,
        downtime_seconds=row.downtime_seconds,
        bytes_sent=row.bytes_sent,
        change_ref=row.change_ref,
        published_at=None if row.published_at is None else as_utc(row.published_at),
    )
