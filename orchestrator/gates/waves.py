"""Gated waves: a wave starts only after every earlier wave finished within its health.

A wave's systems leave ``placed`` only when each earlier wave has finished
(every system completed, finalized, rolled back, failed or cancelled) and was
healthy: its share of systems rolled back or failed (cancelled ones not
counted) at most the threshold. A wave whose share goes over it is
**breached**, at once, even before it finishes: the waves after it halt and
stay halted until an operator resumes it. Systems without a wave are not gated.

Pure: the counts come in per wave and state, the halts and resumes as sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from enum import StrEnum

from orchestrator.gates.cutover import Go, Wait, WaitReason
from orchestrator.migrations import SystemState

S = SystemState

_WENT_WELL = frozenset({S.COMPLETED, S.FINALIZING, S.FINALIZED})
_WENT_BADLY = frozenset({S.ROLLED_BACK, S.FAILED})
_FINISHED = _WENT_WELL | _WENT_BADLY | {S.CANCELLED}
_NOT_STARTED = frozenset({S.REGISTERED, S.QUEUED, S.PLACED})


class WaveState(StrEnum):
    """Where a wave stands (``govmig wave``, the wave's gauge)."""

    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class WaveTally:
    """How many of a wave's systems are in each state."""

    wave: int
    states: Mapping[SystemState, int] = field(default_factory=dict)

    def _count(self, states: Set[SystemState]) -> int:
        return sum(n for state, n in self.states.items() if state in states)

    @property
    def total(self) -> int:
        """Every system of the wave."""
        return sum(self.states.values())

    @property
    def finished(self) -> int:
        """Systems that reached an end: cut over, gone back, failed or cancelled."""
        return self._count(_FINISHED)

    @property
    def went_badly(self) -> int:
        """Systems rolled back or failed."""
        return self._count(_WENT_BADLY)

    @property
    def share_bad(self) -> float:
        """The share rolled back or failed, of those not cancelled (0 for none)."""
        counted = self.total - self.states.get(S.CANCELLED, 0)
        return self.went_badly / counted if counted else 0.0

    @property
    def started(self) -> bool:
        """Whether any system of the wave has left ``placed``."""
        return self.total > self._count(_NOT_STARTED)

    def describe(self) -> str:
        """``3 of 10 rolled back or failed (30%)``."""
        return f"{self.went_badly} of {self.total} rolled back or failed ({self.share_bad:.0%})"


@dataclass(frozen=True, slots=True)
class WavePolicy:
    """The share of a wave rolled back or failed above which the waves after it halt."""

    threshold: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"a wave's health threshold is a share from 0 to 1: {self.threshold}")

    def breached(self, tally: WaveTally) -> bool:
        """Whether the wave went badly enough to halt the waves after it."""
        return tally.share_bad > self.threshold


def wave_state(tally: WaveTally, *, halted: bool) -> WaveState:
    """The wave's state; ``halted``: it was breached and has not been resumed."""
    if halted:
        return WaveState.HALTED
    if tally.total and tally.finished == tally.total:
        return WaveState.FINISHED
    return WaveState.RUNNING if tally.started else WaveState.WAITING


def newly_breached(
    tallies: Mapping[int, WaveTally], policy: WavePolicy, recorded: Set[int]
) -> list[int]:
    """Waves over the threshold whose halt is not recorded yet (resumed ones are recorded)."""
    return sorted(w for w, tally in tallies.items() if w not in recorded and policy.breached(tally))


def wave_gate(wave: int | None, tallies: Mapping[int, WaveTally], halted: Set[int]) -> Go | Wait:
    """Whether a placed system of ``wave`` may start: every earlier wave finished, none halted.

    ``halted``: waves breached and not resumed.
    """
    if wave is None:
        return Go("no wave")
    earlier = sorted(w for w in tallies if w < wave)
    for before in earlier:
        tally = tallies[before]
        if before in halted:
            text = f"wave {before} is halted: {tally.describe()}; govmig wave resume {before}"
            return Wait(WaitReason.WAVE, text)
        if tally.finished < tally.total:
            text = f"wave {before} has not finished: {tally.finished} of {tally.total} systems"
            return Wait(WaitReason.WAVE, text)
    return Go(f"waves before {wave} finished" if earlier else "the first wave")
