"""find_cycles: the dependency cycles the loader refuses, found once each."""

from __future__ import annotations

import pytest

from orchestrator.inventory.graph import find_cycles


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({}, []),
        ({"a": [], "b": ["a"], "c": ["a", "b"]}, []),
        ({"a": ["a"]}, [["a", "a"]]),
        ({"a": ["b"], "b": ["a"]}, [["a", "b", "a"]]),
        ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, [["a", "b", "c", "a"]]),
        ({"a": ["b", "b"], "b": ["a"]}, [["a", "b", "a"]]),
        ({"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}, [["a", "b", "a"], ["c", "d", "c"]]),
        ({"a": ["ghost"]}, []),
    ],
    ids=[
        "empty",
        "diamond-free-dag",
        "self-loop",
        "two-cycle",
        "three-cycle-with-tail",
        "repeated-edge",
        "two-separate-cycles",
        "unknown-target-ignored",
    ],
)
def test_find_cycles(graph: dict[str, list[str]], cycles: list[list[str]]) -> None:
    assert find_cycles(graph) == cycles


def test_a_long_chain_does_not_exhaust_the_stack() -> None:
    size = 50_000
    graph = {f"s{n}": [f"s{n + 1}"] for n in range(size)}
    graph[f"s{size}"] = ["s0"]
    (cycle,) = find_cycles(graph)
    assert len(cycle) == size + 2
