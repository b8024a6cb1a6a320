"""The figures a scenario leaves in the store, the journals and the dead-letter topic.

Read after the fact, from what the real components wrote: the systems' states
and audit (the outbox), the allocations behind the ledger, the cutover
journals on the targets, and the reasons in the dead letters' headers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from chaos.figures import Figures
from chaos.harness import Fleet, read_fleet
from orchestrator.bus import read_topic
from orchestrator.capacity import Resources
from orchestrator.migrations import SystemState
from orchestrator.migrations.states import holds_capacity, is_terminal
from orchestrator.reactor.deadletter import describe
from orchestrator.settings import KafkaSettings
from orchestrator.store import SystemRow, TransitionRow

# How many cutover lines a system's target journal holds; None when it has no target.
JournalCount = Callable[[SystemRow], int | None]


def tally(
    figures: Figures,
    url: str,
    system_ids: Sequence[str],
    settings: KafkaSettings,
    journal_lines: JournalCount,
) -> Fleet:
    """Fill ``figures`` from the store at ``url`` and the dead-letter topic; the fleet read."""
    fleet = read_fleet(url)
    figures.systems = len(system_ids)
    figures.completed = sum(
        1
        for sid in system_ids
        if sid in fleet.systems and _state(fleet, sid) is SystemState.COMPLETED
    )
    unfinished = [sid for sid in system_ids if not _ended(fleet, sid)]
    figures.lost += len(unfinished)
    if unfinished:
        figures.notes.append("not in a terminal state: " + ", ".join(_where(fleet, unfinished)))
    doubles = [
        sid for sid in system_ids if sid in fleet.systems and _doubled(fleet, sid, journal_lines)
    ]
    figures.double_cutovers += len(doubles)
    if doubles:
        figures.notes.append("cut over twice: " + ", ".join(doubles))
    drift = ledger_drift(fleet)
    figures.ledger_drift += len(drift)
    figures.notes.extend(f"ledger drift: {line}" for line in drift)
    figures.dead_letters.update(dead_letter_reasons(settings))
    return fleet


def _state(fleet: Fleet, system_id: str) -> SystemState:
    return fleet.systems[system_id].state


def _ended(fleet: Fleet, system_id: str) -> bool:
    return system_id in fleet.systems and is_terminal(_state(fleet, system_id))


def _where(fleet: Fleet, system_ids: Iterable[str]) -> list[str]:
    return [
        f"{sid} ({fleet.systems[sid].state})" if sid in fleet.systems else f"{sid} (never stored)"
        for sid in system_ids
    ]


def _doubled(fleet: Fleet, system_id: str, journal_lines: JournalCount) -> bool:
    """A second cutover: in the audit without a rollback between, or in the target's journal."""
    audit = fleet.audit[system_id]
    attempts = cutover_attempts(audit)
    found = journal_lines(fleet.systems[system_id])
    return attempts > 1 or (found is not None and found > max(attempts, 1))


def cutover_attempts(audit: Sequence[TransitionRow]) -> int:
    """The most transitions into ``cutover`` between two rollbacks (one per migration run)."""
    most = current = 0
    for row in audit:
        if row.refused:
            continue
        if row.to_state is SystemState.CUTOVER:
            current += 1
            most = max(most, current)
        elif row.to_state is SystemState.ROLLED_BACK:
            current = 0
    return most


def ledger_drift(fleet: Fleet) -> list[str]:
    """Where the stored allocations differ from what the systems' states and sizes imply."""
    drift = []
    for usage in fleet.usage:
        node = usage.node.node_id
        holders = {
            sid: row
            for sid, row in fleet.systems.items()
            if row.node == node and holds_capacity(row.state)
        }
        if set(usage.allocations) != set(holders):
            extra = sorted(set(usage.allocations) - set(holders))
            missing = sorted(set(holders) - set(usage.allocations))
            drift.append(f"{node} holds {extra or '-'} it should not, lacks {missing or '-'}")
        expected = sum((size_of(row) for row in holders.values()), Resources())
        if Resources.from_amounts(usage.used) != expected:
            drift.append(f"{node} uses {dict(usage.used)}, its systems add up to {expected}")
    return drift


def size_of(row: SystemRow) -> Resources:
    record = row.record
    return Resources(int(record["vcpu"]), int(record["memory_gb"]), int(record["storage_gb"]))


def dead_letter_reasons(settings: KafkaSettings) -> Counter[str]:
    """Each dead letter's reason, counted."""
    return Counter(describe(record).reason for record in read_topic(settings, settings.dlq_topic))
