"""Dead letters in the audit: each refused record's reason, chained like every audit row.

The reactor publishes a batch's dead letters to the DLQ topic and, once the broker
has acknowledged them, hands them to ``DeadLetterAudit`` before it commits the
offsets. Each becomes one audit row (cause ``dead_letter``, refused, the reason
code and message, where the record was read), linked into the hash chain of the
system its key names, or into ``UNKEYED_CHAIN`` when the key names none. The row
is marked published at once: the DLQ topic is its announcement, so the status
outbox never sends it. If the audit cannot be written the reactor reads the batch
again (the dead letter is sent twice, audited once); a crash between the two
does the same.

The event's source and id are read from its ``ce_source`` and ``ce_id`` headers
when it has them (binary mode); a structured-mode or undecodable record is audited
without them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from orchestrator.events.codec import KafkaRecord
from orchestrator.events.reasons import Rejection
from orchestrator.inventory.models import SYSTEM_ID_PATTERN
from orchestrator.store import AuditEntry, Store, append_audit

# The audit's cause of a dead letter, and the component that decided it.
DEAD_LETTER_CAUSE: Final = "dead_letter"
COMPONENT: Final = "reactor"
# The chain of the dead letters whose key is no system id: not a valid id itself.
UNKEYED_CHAIN: Final = "(no system key)"

_SYSTEM_ID: Final = re.compile(SYSTEM_ID_PATTERN)


def dead_letter_entry(record: KafkaRecord, rejection: Rejection, *, at: datetime) -> AuditEntry:
    """The audit row of ``record``, dead-lettered at ``at`` for ``rejection``."""
    key = (record.key or b"").decode("utf-8", "replace")
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    return AuditEntry(
        system_id=key if _SYSTEM_ID.fullmatch(key) else UNKEYED_CHAIN,
        from_state=None,
        to_state=None,
        reason=f"dead-lettered as {rejection.code}: {rejection.message} (record {where})",
        cause=DEAD_LETTER_CAUSE,
        actor=COMPONENT,
        event_source=_header(record, "ce_source"),
        event_id=_header(record, "ce_id"),
        at=at,
        published_at=at,
    )


def _header(record: KafkaRecord, name: str) -> str | None:
    """The last ``name`` header as one bounded line, if present and readable."""
    values = [value for key, value in record.headers if key.lower() == name]
    if not values:
        return None
    text = values[-1].decode("utf-8", "replace")
    return text[:255] if text.isprintable() else None


class DeadLetterAudit:
    """Writes a batch's acknowledged dead letters into the audit, in one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __call__(self, letters: Sequence[tuple[KafkaRecord, Rejection]]) -> None:
        at = datetime.now(UTC)
        with self._store.transaction() as session:
            append_audit(session, [dead_letter_entry(r, why, at=at) for r, why in letters])
