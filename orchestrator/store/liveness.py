"""Which instances are alive, as PostgreSQL sees their sessions.

Each phase worker on PostgreSQL holds a session-level advisory lock keyed by
its instance id for as long as it runs (``hold_instance_lock``). When its
process dies, however it dies, PostgreSQL ends its session and the lock goes
with it; another instance that finds the lock free (``dead_owners``) knows the
leases of that owner will never be renewed and can free them at once instead
of waiting out their time to live. On SQLite (one host, one orchestrator by
design) nothing is held and no owner is ever declared dead here: leases expire.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from orchestrator.store.engine import Store

log = logging.getLogger(__name__)


def lock_key(instance: str) -> int:
    """The advisory lock key of ``instance``: a signed 64-bit hash of its id."""
    digest = hashlib.sha256(f"govmig-instance:{instance}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class InstanceLock:
    """An instance's liveness lock, held on its own connection until ``close``."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def close(self) -> None:
        """Let go of the lock (ending the session does it too, when the process dies)."""
        self._connection.close()


def hold_instance_lock(store: Store, instance: str) -> InstanceLock | None:
    """Take ``instance``'s lock on a connection of its own, kept open until closed; None on SQLite.

    If another live process already holds it (two instances given one id), the
    connection is returned without it and that is logged: liveness then
    answers for the other one.
    """
    if store.dialect != "postgresql":
        return None
    connection = store.engine.connect()
    taken = connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(instance)}
    )
    held = bool(taken.scalar_one())
    connection.commit()  # a session-level lock outlives the transaction
    if not held:
        log.warning("another live instance is named %s: give each its own --instance-id", instance)
    return InstanceLock(connection)


def dead_owners(session: Session, owners: Collection[str]) -> set[str]:
    """Those of ``owners`` whose process no longer holds its lock (PostgreSQL only)."""
    if session.get_bind().dialect.name != "postgresql":
        return set()
    dead = set()
    for owner in sorted(owners):
        # A transaction-level try: released at commit, refused while the owner holds its lock.
        probe = text("SELECT pg_try_advisory_xact_lock(:key)")
        if session.execute(probe, {"key": lock_key(owner)}).scalar_one():
            dead.add(owner)
    return dead
