"""The state store's tables, as typed SQLAlchemy 2 declarative models.

These models are the single description of the schema: the Alembic revisions
under ``migrations/versions/`` must produce exactly this (a test compares them).
Repositories in this package read and write through them; nothing outside
``orchestrator.store`` sees a model, only the frozen records of ``records.py``.

States, statuses and outcomes are plain strings here; the repositories convert
them to and from the domain enums.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so a migration written today still matches the
# models on both dialects and a later ALTER can name what it drops.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY, PostgreSQL wants a BIGINT.
AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")
AMOUNT = BigInteger
TIMESTAMP = DateTime(timezone=True)
# Every column holding a SystemState value (revision 0002 widened them from 16).
STATE_LENGTH = 32
# A SHA-256 in hexadecimal: the audit's hash chain.
HASH_LENGTH = 64


class Base(DeclarativeBase):
    """Declarative base holding the store's metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SystemTable(Base):
    """One business system: its registered record and where its migration stands."""

    __tablename__ = "systems"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_systems_state", "state"),
        Index("ix_systems_node", "node"),
        Index("ix_systems_wave", "wave"),
        Index("ix_systems_gate_due_at", "gate_due_at"),
    )

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    city: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(STATE_LENGTH))
    node: Mapped[str | None] = mapped_column(String(32))
    wave: Mapped[int | None] = mapped_column(Integer)
    phase: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    # Who requested the migration itself (``requested_by`` follows every later request):
    # an approver must differ from them (four eyes).
    migration_requested_by: Mapped[str | None] = mapped_column(String(200))
    # What holds it at a gate (``orchestrator.gates``): the reason (approval, window, freeze,
    # rehearsal, budget, group, wave) and its one line; cleared when its state changes.
    waiting_reason: Mapped[str | None] = mapped_column(String(16))
    waiting: Mapped[str | None] = mapped_column(Text)
    waiting_since: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    # The moment an operator pinned its cutover to (``govmig schedule``), or None.
    cutover_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    # When a ready system's cutover gates are asked again without waiting for a pass: at
    # once after an approval, a rejection or a schedule, or when its wait's moment comes.
    gate_due_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    # The latest accepted request's ``--to`` node, honoured by every placement of this run.
    target_node: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    # Optimistic concurrency: every write is ``WHERE version = :read`` and bumps it.
    version: Mapped[int] = mapped_column(Integer)
    # The phase worker's claim on the system (``store.leases``): which instance runs its
    # phase, until when. Written only with compare-and-swap, never by ``save_system``.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    # Bumped by every claim: the fencing token of the run that holds the lease, so a
    # run of an older claim (a dead instance's) cannot act after a newer one began.
    lease_generation: Mapped[int | None] = mapped_column(Integer)
    # The system's host number in its node's IPv6 prefix, unique per node, and the
    # address it answers on by name once verify reached it there over IPv6 (cleared
    # when it is rolled back).
    ipv6_index: Mapped[int | None] = mapped_column(Integer)
    ipv6_address: Mapped[str | None] = mapped_column(String(45))
    # The host of its node's pool its provider provisioned it on (cleared on rollback).
    target_host: Mapped[str | None] = mapped_column(String(64))
    # Its last cutover's downtime: source stopped to first healthy answer by name.
    downtime_seconds: Mapped[float | None] = mapped_column(Float)


class NodeTable(Base):
    """A ledger target's inventory per resource, its status and its generation.

    ``kind`` tells the 14 city nodes (seeded from the inventory) from the connected
    PRD platforms (written by ``gov.cloud.platform.connected``, deleted on disconnect).
    """

    __tablename__ = "nodes"
    __table_args__ = (
        CheckConstraint("status IN ('online', 'draining', 'offline')", name="status_known"),
        CheckConstraint("kind IN ('node', 'platform')", name="kind_known"),
        CheckConstraint("generation >= 0", name="generation_non_negative"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    city: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    vcpu_total: Mapped[int] = mapped_column(AMOUNT)
    vcpu_reserved: Mapped[int] = mapped_column(AMOUNT)
    vcpu_allocation_ratio: Mapped[float] = mapped_column(Float)
    memory_gb_total: Mapped[int] = mapped_column(AMOUNT)
    memory_gb_reserved: Mapped[int] = mapped_column(AMOUNT)
    memory_gb_allocation_ratio: Mapped[float] = mapped_column(Float)
    storage_gb_total: Mapped[int] = mapped_column(AMOUNT)
    storage_gb_reserved: Mapped[int] = mapped_column(AMOUNT)
    storage_gb_allocation_ratio: Mapped[float] = mapped_column(Float)
    # Bumped by every write that touches the node's inventory or allocations, so a
    # writer that read generation g can commit only if nobody else wrote since (CAS).
    generation: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    kind: Mapped[str] = mapped_column(String(16), server_default="node")
    # A platform's ``ssh`` target host names, as its connect event gave them; None for nodes.
    hosts: Mapped[list[str] | None] = mapped_column(JSON)
    # A platform's IPv6 network, from its connect event; None for nodes (the inventory has it).
    ipv6_prefix: Mapped[str | None] = mapped_column(String(64))


class AllocationTable(Base):
    """The capacity one system holds on one node; at most one row per system."""

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint(
            "vcpu >= 0 AND memory_gb >= 0 AND storage_gb >= 0", name="amounts_non_negative"
        ),
        Index("ix_allocations_node_id", "node_id"),
    )

    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"))
    vcpu: Mapped[int] = mapped_column(AMOUNT)
    memory_gb: Mapped[int] = mapped_column(AMOUNT)
    storage_gb: Mapped[int] = mapped_column(AMOUNT)
    allocated_at: Mapped[datetime] = mapped_column(TIMESTAMP)


class ProcessedEventTable(Base):
    """Every event id seen, so a redelivered event is recognised as a duplicate."""

    __tablename__ = "processed_events"
    __table_args__ = (
        CheckConstraint("outcome IN ('processed', 'duplicate', 'rejected')", name="outcome_known"),
    )

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(255))
    processed_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    outcome: Mapped[str] = mapped_column(String(16))


class TransitionTable(Base):
    """Append-only audit of every state change and refused request; also the status outbox.

    Each row is published once as a status (or refusal) event; ``published_at``
    is the only column ever written after the insert.
    """

    __tablename__ = "transitions"
    __table_args__ = (
        Index("ix_transitions_system_id_id", "system_id", "id"),
        # The outbox reads ``WHERE published_at IS NULL ORDER BY id``.
        Index("ix_transitions_published_at_id", "published_at", "id"),
    )

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    # No foreign key: a refused request for an unknown system is audited too.
    system_id: Mapped[str] = mapped_column(String(63))
    from_state: Mapped[str | None] = mapped_column(String(STATE_LENGTH))
    # NULL when the request was refused.
    to_state: Mapped[str | None] = mapped_column(String(STATE_LENGTH))
    refused: Mapped[bool] = mapped_column(Boolean)
    cause: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(TIMESTAMP)
    event_source: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255))
    # Who asked (an engineer's requested_by) or which component decided.
    actor: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    # The system's node and requester right after the change, for its status event.
    node: Mapped[str | None] = mapped_column(String(32))
    requested_by: Mapped[str | None] = mapped_column(String(200))
    # What the phase behind the change measured (a cutover's downtime, a pass's bytes).
    downtime_seconds: Mapped[float | None] = mapped_column(Float)
    bytes_sent: Mapped[int | None] = mapped_column(AMOUNT)
    # The change reference an approval or a rejection was made under, for compliance exports.
    change_ref: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    # The hash chain of the system's audit (``store.chain``): the hash of the record
    # before this one in its system's chain, and this record's, over its content and that.
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class AuditChainTable(Base):
    """The head of each system's audit chain: the hash of its last record, and its anchor.

    One row per system id that has audit rows, registered or not (a refusal for
    an unknown system starts a chain too), so no foreign key. Written in the
    transaction of the records it follows; its row lock is what serializes the
    writers of one chain on PostgreSQL (``store.audit.append_audit``). The anchor
    is what the chain's first kept record links to: the genesis, or the hash of
    the last record ``govmig audit prune`` removed.
    """

    __tablename__ = "audit_chains"

    system_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    head: Mapped[str] = mapped_column(String(HASH_LENGTH))
    anchor: Mapped[str] = mapped_column(String(HASH_LENGTH), server_default="0" * HASH_LENGTH)


class ReplicationPassTable(Base):
    """One replication pass of a system: its kind, the bytes it sent and how long it took.

    Append-only history, kept when the system is rolled back: it is what was moved.
    """

    __tablename__ = "replication_passes"
    __table_args__ = (Index("ix_replication_passes_system_id_id", "system_id", "id"),)

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    kind: Mapped[str] = mapped_column(String(16))
    bytes_sent: Mapped[int] = mapped_column(AMOUNT)
    seconds: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(TIMESTAMP)


class RehearsalTable(Base):
    """One rehearsal (test migration) of a system: passed or not, why, how long, under what name.

    Append-only, like the passes: the evidence a cutover policy asks for.
    """

    __tablename__ = "rehearsals"
    __table_args__ = (Index("ix_rehearsals_system_id_id", "system_id", "id"),)

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    passed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    test_name: Mapped[str | None] = mapped_column(String(255))
    seconds: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(TIMESTAMP)


class ApprovalTable(Base):
    """One approval of a system's cutover (four eyes): who, under which change, and when.

    Never deleted, only withdrawn (``withdrawn_at``, ``withdrawn_by``): the evidence
    each cutover was approved. An approval lives for the cutover policy's time.
    """

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_system_id_granted_at", "system_id", "granted_at"),)

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"))
    approver: Mapped[str] = mapped_column(String(200))
    change_ref: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    withdrawn_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))


class WaveHaltTable(Base):
    """A wave that went badly enough to halt the waves after it, and who resumed it.

    One row per wave, written once by whichever instance saw the breach first;
    ``resumed_at`` is set by an operator's ``govmig wave resume``. A resumed wave
    gates nothing any more, however it goes on.

    Also the outbox of the waves' status events, like the transitions are the
    systems': the halt and the resume are each published once, after which
    their ``*_published_at`` is set.
    """

    __tablename__ = "wave_halts"

    wave: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(Text)
    halted_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    resumed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    resumed_by: Mapped[str | None] = mapped_column(String(200))
    resume_reason: Mapped[str | None] = mapped_column(Text)
    # When the broker acknowledged the halt's and the resume's status event; NULL: pending.
    # No index: at most one row per wave, and the outbox reads them all.
    halt_published_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    resume_published_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)


class IntakePauseTable(Base):
    """One pause of an instance's intake by its flood guard, and how it ended.

    Written when the guard trips; ``resumed_at`` is set when it resumes, by the
    cooldown's end (``resumed_by`` NULL) or by an operator's request (who, why,
    which event): the audit of every pause and every early resume.
    """

    __tablename__ = "intake_pauses"

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    until: Mapped[datetime] = mapped_column(TIMESTAMP)
    resumed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    resumed_by: Mapped[str | None] = mapped_column(String(200))
    resume_reason: Mapped[str | None] = mapped_column(Text)
    resume_event_id: Mapped[str | None] = mapped_column(String(255))


class AwaitingRegistrationTable(Base):
    """A request about a system not registered yet, held until its registration or its deadline.

    Producers that partition by different hashes can put a system's request on
    another partition than its registration, so the request may be read first.
    The intake keeps the Kafka record as it came (enough to decode it again and,
    past ``deadline``, to dead-letter it byte for byte), applies it once the
    system is registered and deletes it; a row past its deadline is
    dead-lettered by the sweep, then deleted.
    """

    __tablename__ = "awaiting_registration"
    __table_args__ = (
        Index("ix_awaiting_registration_system_id_id", "system_id", "id"),
        Index("ix_awaiting_registration_deadline", "deadline"),
    )

    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    # No foreign key: the system is exactly what is not registered yet.
    system_id: Mapped[str] = mapped_column(String(63))
    # The cause's short name (``migrate``, ``cancel``...) and who asked, for status.
    request: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(200))
    event_source: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(255))
    # The record as consumed: where it was read, its key, value and headers.
    topic: Mapped[str] = mapped_column(String(255))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes | None] = mapped_column(LargeBinary)
    # [[name, base64 of the value], ...] in the record's order.
    headers: Mapped[list[list[str]]] = mapped_column(JSON)
    arrived_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    deadline: Mapped[datetime] = mapped_column(TIMESTAMP)
