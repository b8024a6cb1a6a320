"""Gated waves in the worker: which placed systems' waves may start, and halting bad waves.

Each tick, before placed systems start, ``open_waves`` tallies every wave by
state (one grouped read), records the halt of each wave newly over its health
threshold (once, by whichever instance sees it first, and says so in an error
line; the status outbox announces it), and lets through only the placed systems
whose wave may start (``gates.waves.wave_gate``: every earlier wave finished,
none halted). The others are held, each with the line saying which wave holds
it, audited as a refused start when what holds it changes (a wave not finished,
then halted).
Off unless ``--wave-threshold`` is given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from orchestrator.engine.context import CauseContext
from orchestrator.engine.lifecycle import Lifecycle
from orchestrator.gates import Go
from orchestrator.gates.waves import WavePolicy, WaveTally, newly_breached, wave_gate
from orchestrator.migrations import Start
from orchestrator.store import Session
from orchestrator.store import waves as wave_store
from orchestrator.store.leases import WorkRow
from orchestrator.worker.gating import record_wait

log = logging.getLogger(__name__)


def halted_waves(
    session: Session, tallies: dict[int, WaveTally], policy: WavePolicy, *, now: datetime
) -> set[int]:
    """The waves that hold the waves after them, recording (and telling) any new breach."""
    recorded = wave_store.halts(session)
    breached = newly_breached(tallies, policy, set(recorded))
    reasons = {w: f"{tallies[w].describe()}, over {policy.threshold:.0%}" for w in breached}
    for wave in wave_store.record_halts(session, reasons, at=now):
        log.error(
            "wave %d halted: %s; the waves after it wait until govmig wave resume %d",
            wave, reasons[wave], wave,
        )  # fmt: skip
    return {w for w, halt in recorded.items() if halt.resumed_at is None} | set(breached)


def open_waves(
    session: Session,
    lifecycle: Lifecycle,
    placed: Sequence[WorkRow],
    policy: WavePolicy,
    *,
    now: datetime,
    context: CauseContext,
) -> list[WorkRow]:
    """The ``placed`` rows whose wave may start; the others held with the line saying why."""
    tallies = wave_store.wave_tallies(session)
    halted = halted_waves(session, tallies, policy, now=now)
    lifecycle.prefetch(row.id for row in placed)
    holding = replace(context, note=None)
    allowed = []
    for work in placed:
        decided = wave_gate(work.wave, tallies, halted)
        row = lifecycle.system(work.id)
        if isinstance(decided, Go):
            allowed.append(work)
        elif row is not None:
            record_wait(lifecycle, row, decided, Start(held=decided.line), holding, at=now)
    return allowed
