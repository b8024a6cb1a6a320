"""What the phase worker runs next: batches, admissions and cancellations, decided purely.

The worker (``orchestrator.worker.phase_worker``) reads the store, then asks here:

* ``plan_batches``: which systems ready for a phase go together into one
  playbook run. Systems of one phase whose nodes run from one place (this
  machine, or one execution host) form a group, whichever node each is on:
  a run's fixed cost (start-up, logins) is paid once for all of them. A group
  is due once it holds ``batch_size`` systems or its oldest member has waited
  ``batch_window_s`` (so a burst of ready systems becomes one run, not many).
  Lower waves go first, then the longest-waiting group. A node takes part in
  at most ``node_concurrency`` batches at once and the process runs at most
  ``max_batches``.
* ``admit``: which ``placed`` systems may start, lower waves first (dependency
  groups share a wave), while fewer than ``max_batches * batch_size`` systems
  are in a phase, so starting a wave never floods the runners.
* ``stopped_batches``: which running batches no longer have any system in
  their phase (cancelled or rolled back meanwhile), so their run is cancelled.

No I/O and no clock: times are passed in as monotonic seconds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.migrations import Phase, SystemState, phase_in


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the worker runs at once, and how long it waits to fill a batch."""

    batch_size: int = 50
    batch_window_s: float = 0.5
    node_concurrency: int = 2
    max_batches: int = 4

    def __post_init__(self) -> None:
        if min(self.batch_size, self.node_concurrency, self.max_batches) < 1:
            raise ValueError(f"batch size and concurrency limits must be at least 1: {self}")
        if self.batch_window_s < 0:
            raise ValueError(f"the batch window cannot be negative: {self.batch_window_s}")

    @property
    def max_in_flight(self) -> int:
        """Systems allowed in a phase at once, across every node."""
        return self.batch_size * self.max_batches


@dataclass(frozen=True, slots=True)
class Ready:
    """A system waiting for ``phase`` on ``node`` since ``seen_at`` (monotonic seconds).

    ``place`` is where its node's runs go from: systems of one place may share a run.
    """

    system_id: str
    node: str
    phase: Phase
    wave: int | None
    seen_at: float
    place: str = ""


@dataclass(frozen=True, slots=True)
class Batch:
    """Systems that run ``phase`` in one playbook run, and the nodes they are on."""

    phase: Phase
    system_ids: tuple[str, ...]
    nodes: tuple[str, ...]


def _wave_key(wave: int | None) -> tuple[bool, int]:
    return (wave is None, wave or 0)


def plan_batches(
    ready: Iterable[Ready], *, running: Iterable[Batch], limits: Limits, now: float
) -> list[Batch]:
    """The batches to start now, beside the ``running`` ones."""
    groups: dict[tuple[str, Phase], list[Ready]] = defaultdict(list)
    for item in ready:
        groups[(item.place, item.phase)].append(item)
    order = sorted(
        groups.values(),
        key=lambda members: (
            min(_wave_key(r.wave) for r in members),
            min(r.seen_at for r in members),
        ),
    )
    under_way = list(running)
    per_node = Counter(node for batch in under_way for node in batch.nodes)
    total = len(under_way)
    batches: list[Batch] = []
    for members in order:
        waiting = sorted(members, key=lambda r: (_wave_key(r.wave), r.system_id))
        while waiting and total < limits.max_batches:
            room = [r for r in waiting if per_node[r.node] < limits.node_concurrency]
            chunk = room[: limits.batch_size]
            if not chunk or not _due(chunk, limits, now):
                break
            batch = Batch(
                waiting[0].phase,
                tuple(r.system_id for r in chunk),
                tuple(sorted({r.node for r in chunk})),
            )
            batches.append(batch)
            per_node.update(batch.nodes)
            total += 1
            waiting = [r for r in waiting if r.system_id not in batch.system_ids]
    return batches


def _due(chunk: Sequence[Ready], limits: Limits, now: float) -> bool:
    full = len(chunk) >= limits.batch_size
    return full or now - min(r.seen_at for r in chunk) >= limits.batch_window_s


def admit(placed: Iterable[tuple[str, int | None]], *, in_flight: int, limits: Limits) -> list[str]:
    """The ``placed`` systems (id, wave) to start now, lower waves first."""
    room = max(0, limits.max_in_flight - in_flight)
    ordered = sorted(placed, key=lambda item: (_wave_key(item[1]), item[0]))
    return [system_id for system_id, _wave in ordered[:room]]


def stopped_batches(
    running: Mapping[str, Batch], states: Mapping[str, SystemState | None]
) -> list[str]:
    """Keys of running batches none of whose systems is still in the batch's phase."""
    return [
        key
        for key, batch in running.items()
        if all(_phase_of(states.get(sid)) is not batch.phase for sid in batch.system_ids)
    ]


def _phase_of(state: SystemState | None) -> Phase | None:
    return phase_in(state) if state is not None else None
