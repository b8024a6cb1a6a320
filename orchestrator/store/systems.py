"""Repository of business systems: their registered record and where their migration stands.

Every function takes the caller's ``Session``, so the reactor commits the
systems, the audit, the ledger and the processed event ids of one Kafka batch
in one transaction. Writes after registration go through ``save_system``, which
is optimistic: it writes only if the row still has the version it was read with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.migrations.states import Phase, SystemState
from orchestrator.store._sql import (
    as_utc,
    execute,
    insert_many_if_absent,
    rows,
    stored_time,
)
from orchestrator.store.records import SystemRow
from orchestrator.store.tables import SystemTable

# SQLite allows 32,766 bound parameters and PostgreSQL 65,535: stay well below both.
_IN_CHUNK = 1000


class StaleSystemError(TemporaryError):
    """The system changed since it was read; re-read it and decide again."""


def insert_systems(session: Session, systems: Sequence[SystemRow]) -> None:
    """Insert rows the caller knows are new, as given (version 1), in one statement.

    Raises ``StaleSystemError`` if any of them exists after all (another
    instance registered it since the caller looked), so the caller decides again.
    """
    if not systems:
        return
    rows = [
        {
            "id": row.id,
            "record": row.record,
            "city": row.city,
            "state": SystemState(row.state).value,
            "node": row.node,
            "wave": row.wave,
            "phase": None if row.phase is None else Phase(row.phase).value,
            "last_error": row.last_error,
            "requested_by": row.requested_by,
            "migration_requested_by": row.migration_requested_by,
            "waiting_reason": row.waiting_reason,
            "waiting": row.waiting,
            "waiting_since": None if row.waiting_since is None else stored_time(row.waiting_since),
            "cutover_at": None if row.cutover_at is None else stored_time(row.cutover_at),
            "gate_due_at": None if row.gate_due_at is None else stored_time(row.gate_due_at),
            "target_node": row.target_node,
            "updated_at": stored_time(row.updated_at),
            "version": row.version,
        }
        for row in systems
    ]
    inserted = insert_many_if_absent(session, SystemTable, rows, returning=(SystemTable.id,))
    clashes = sorted({row.id for row in systems} - {key for (key,) in inserted})
    if clashes:
        raise StaleSystemError(
            f"systems registered concurrently: {', '.join(clashes[:5])}", delay=0.1
        )


def get_systems(session: Session, system_ids: Iterable[str]) -> dict[str, SystemRow]:
    """The stored systems among ``system_ids``, by id, in one query per thousand ids."""
    wanted = sorted(set(system_ids))
    found: dict[str, SystemRow] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        statement = select(*_COLUMNS).where(_COLUMNS.id.in_(chunk))
        found.update((row.id, _to_record(row)) for row in rows(session, statement))
    return found


def get_system(session: Session, system_id: str) -> SystemRow | None:
    """The stored system, or None if it was never registered."""
    statement = (
        select(SystemTable)
        .where(SystemTable.id == system_id)
        .execution_options(populate_existing=True)
    )
    row = session.scalars(statement).one_or_none()
    return None if row is None else _to_record(row)


def list_systems(
    session: Session,
    *,
    state: SystemState | None = None,
    node: str | None = None,
    wave: int | None = None,
    limit: int | None = None,
) -> list[SystemRow]:
    """Stored systems ordered by id, filtered on whichever of state, node and wave are given."""
    statement = select(SystemTable).order_by(SystemTable.id)
    if state is not None:
        statement = statement.where(SystemTable.state == SystemState(state).value)
    if node is not None:
        statement = statement.where(SystemTable.node == node)
    if wave is not None:
        statement = statement.where(SystemTable.wave == wave)
    if limit is not None:
        statement = statement.limit(limit)
    rows = session.scalars(statement.execution_options(populate_existing=True))
    return [_to_record(row) for row in rows]


def unchanged_since(
    session: Session, state: SystemState, cutoff: datetime, *, limit: int
) -> list[str]:
    """Up to ``limit`` ids of systems in ``state`` that have not changed since ``cutoff``."""
    statement = (
        select(SystemTable.id)
        .where(SystemTable.state == state.value, SystemTable.updated_at <= stored_time(cutoff))
        .order_by(SystemTable.updated_at)
        .limit(limit)
    )
    return list(session.scalars(statement))


def dependencies(session: Session) -> list[tuple[str, tuple[str, ...]]]:
    """Each stored system that depends on others, with what it depends on, by id.

    Reads the ``depends_on`` of every record in the database rather than every
    whole record: placement builds its dependency groups from this once per
    transaction, and whole records cost it more the more systems there are.
    """
    depends_on = _COLUMNS.record["depends_on"]
    statement = (
        select(_COLUMNS.id, depends_on)
        .where(func.json_array_length(depends_on) > 0)  # most systems depend on nothing
        .order_by(_COLUMNS.id)
    )
    return [
        (system_id, tuple(depends_on))
        for system_id, depends_on in rows(session, statement)
        if depends_on
    ]


def count_by_state(session: Session) -> dict[SystemState, int]:
    """How many systems are in each state (every state present, zero if none)."""
    counts = dict.fromkeys(SystemState, 0)
    statement = select(SystemTable.state, func.count()).group_by(SystemTable.state)
    for state, count in session.execute(statement):
        counts[SystemState(state)] = count
    return counts


def save_system(session: Session, system: SystemRow, *, now: datetime | None = None) -> SystemRow:
    """Write ``system``'s fields if the row is still at ``system.version``; return the new row.

    Raises ``StaleSystemError`` if another writer got there first, and
    ``PermanentError`` if the system does not exist.
    """
    at = stored_time(now)
    params = {
        "p_id": system.id,
        "p_version": system.version,
        "p_record": system.record,
        "p_city": system.city,
        "p_state": SystemState(system.state).value,
        "p_node": system.node,
        "p_wave": system.wave,
        "p_phase": None if system.phase is None else Phase(system.phase).value,
        "p_last_error": system.last_error,
        "p_requested_by": system.requested_by,
        "p_migration_requested_by": system.migration_requested_by,
        "p_waiting_reason": system.waiting_reason,
        "p_waiting": system.waiting,
        "p_waiting_since": (
            None if system.waiting_since is None else stored_time(system.waiting_since)
        ),
        "p_cutover_at": None if system.cutover_at is None else stored_time(system.cutover_at),
        "p_gate_due_at": None if system.gate_due_at is None else stored_time(system.gate_due_at),
        "p_target_node": system.target_node,
        "p_updated_at": at,
    }
    if execute(session, _SAVE, params) == 0:
        current = _require(session, system.id)
        raise StaleSystemError(
            f"system {system.id} changed since it was read "
            f"(version {system.version}, now {current.version})"
        )
    # Exactly what was written: no need to read it back.
    return replace(system, updated_at=at, version=system.version + 1)


# Built once: constructing this UPDATE cost more than running it. The parameters
# are prefixed because SQLAlchemy reserves the column names for its own SET binds.
_SAVED = ("record", "city", "state", "node", "wave", "phase", "last_error", "requested_by",
          "migration_requested_by", "waiting_reason", "waiting", "waiting_since", "cutover_at",
          "gate_due_at", "target_node",
          "updated_at")  # fmt: skip
_SAVE = (
    update(SystemTable)
    .where(SystemTable.id == bindparam("p_id"), SystemTable.version == bindparam("p_version"))
    .values(
        {name: bindparam(f"p_{name}", type_=SystemTable.__table__.c[name].type) for name in _SAVED}
        | {"version": SystemTable.version + 1}
    )
)
_COLUMNS = cast(Table, SystemTable.__table__).c


def _require(session: Session, system_id: str) -> SystemRow:
    found = get_system(session, system_id)
    if found is None:
        raise PermanentError(f"unknown system {system_id!r}: it was never registered")
    return found


def _to_record(row: SystemTable | Row[Any]) -> SystemRow:
    return SystemRow(
        id=row.id,
        record=dict(row.record),
        city=row.city,
        state=SystemState(row.state),
        node=row.node,
        wave=row.wave,
        phase=None if row.phase is None else Phase(row.phase),
        last_error=row.last_error,
        requested_by=row.requested_by,
        updated_at=as_utc(row.updated_at),
        version=row.version,
        target_node=row.target_node,
        migration_requested_by=row.migration_requested_by,
        waiting_reason=row.waiting_reason,
        waiting=row.waiting,
        waiting_since=None if row.waiting_since is None else as_utc(row.waiting_since),
        cutover_at=None if row.cutover_at is None else as_utc(row.cutover_at),
        gate_due_at=None if row.gate_due_at is None else as_utc(row.gate_due_at),
        ipv6_address=row.ipv6_address,
        target_host=row.target_host,
        downtime_seconds=row.downtime_seconds,
        lease_generation=row.lease_generation or 0,
    )
