"""One transaction's systems and audit rows: read once, written back lazily.

The ``Lifecycle`` changes systems through a ``UnitOfWork``. Rows are read once
(``prefetch`` reads many in one query) and written back lazily: new systems in
one INSERT, changed ones once each however many transitions they went
through, in id order (a stable lock order). The audit rows it collects are
also the status outbox, so they are written with the rows, at ``flush``.

A row changed meanwhile by another instance still fails its version check
(``StaleSystemError``), which aborts the whole transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from orchestrator.engine.rows import same_content
from orchestrator.store import (
    AuditEntry,
    Session,
    SystemRow,
    append_audit,
    get_systems,
    insert_systems,
    save_system,
)


class UnitOfWork:
    """The systems one transaction reads and changes, and the audit rows it appends."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._rows: dict[str, SystemRow | None] = {}  # as this transaction sees them
        self._stored: dict[str, SystemRow] = {}  # as the database holds them
        self._unsaved: set[str] = set()
        self._new: set[str] = set()  # registered by this transaction, not inserted yet
        self._audit: list[AuditEntry] = []

    def prefetch(self, system_ids: Iterable[str]) -> None:
        """Read the systems among ``system_ids`` not read yet, in one query."""
        missing = {system_id for system_id in system_ids if system_id not in self._rows}
        if missing:
            found = get_systems(self._session, missing)
            self._stored.update(found)
            self._rows.update({system_id: found.get(system_id) for system_id in missing})

    def system(self, system_id: str) -> SystemRow | None:
        """The system as this transaction sees it, or None if it is not registered."""
        if system_id not in self._rows:
            self.prefetch([system_id])
        return self._rows[system_id]

    def stage(self, row: SystemRow) -> None:
        """Keep ``row`` as the system's new content, to be written later."""
        self._rows[row.id] = row
        self._unsaved.add(row.id)
        if row.id not in self._stored:
            self._new.add(row.id)

    def audit(self, entry: AuditEntry) -> None:
        """Append ``entry`` (and so its status event) at the next ``flush``."""
        self._audit.append(entry)

    def unsaved(self) -> Iterator[SystemRow]:
        """The rows changed since the last write, e.g. records re-registered just now."""
        for system_id in self._unsaved:
            if (row := self._rows[system_id]) is not None:
                yield row

    def insert_new(self) -> None:
        """Insert the systems registered so far: before anything that refers to their rows.

        Looks only at the new ids, not at every row the batch changed (which made
        placing a batch quadratic).
        """
        if not self._new:
            return
        new = [self._rows[system_id] for system_id in sorted(self._new)]
        inserted = [row for row in new if row is not None]
        insert_systems(self._session, inserted)
        self._stored.update((row.id, row) for row in inserted)
        self._new.clear()

    def flush(self) -> None:
        """Write the changed rows, then the audit rows collected so far."""
        self.insert_new()
        for system_id in sorted(self._unsaved):
            current, stored = self._rows[system_id], self._stored[system_id]
            if current is not None and not same_content(stored, current):
                saved = save_system(self._session, replace(current, version=stored.version))
                self._rows[system_id] = self._stored[system_id] = saved
        self._unsaved.clear()
        append_audit(self._session, self._audit)
        self._audit.clear()
