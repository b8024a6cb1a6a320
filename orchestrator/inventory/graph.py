"""Dependency cycles among business systems.

A system can only move after what it depends on, so a cycle in ``depends_on``
would leave every system in it waiting forever: the loader rejects it. Pure,
and iterative so a long chain of 10,000 systems cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

_NEW, _OPEN, _DONE = 0, 1, 2


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Cycles in ``graph`` (node → the nodes it depends on), each as ``[a, b, ..., a]``.

    Each back edge found by a depth-first walk gives one cycle (reported once), in a
    stable order;
    edges to nodes not in ``graph`` are ignored (the loader reports them separately).
    """
    state = dict.fromkeys(graph, _NEW)
    cycles: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for root in graph:
        if state[root] != _NEW:
            continue
        for cycle in _walk(graph, root, state):
            # The same cycle is found twice when an id is listed twice in depends_on.
            key = _canonical(cycle[:-1])
            if key not in seen:
                seen.add(key)
                cycles.append(cycle)
    return cycles


def _canonical(ring: list[str]) -> tuple[str, ...]:
    start = ring.index(min(ring))
    return tuple(ring[start:] + ring[:start])


def _walk(graph: Mapping[str, Sequence[str]], root: str, state: dict[str, int]) -> list[list[str]]:
    cycles: list[list[str]] = []
    path = [root]
    pending: list[Iterator[str]] = [iter(graph[root])]
    state[root] = _OPEN
    while pending:
        target = next(pending[-1], None)
        if target is None:
            state[path.pop()] = _DONE
            pending.pop()
        elif state.get(target) == _OPEN:
            cycles.append([*path[path.index(target) :], target])
        elif state.get(target) == _NEW:
            state[target] = _OPEN
            path.append(target)
            pending.append(iter(graph[target]))
    return cycles
