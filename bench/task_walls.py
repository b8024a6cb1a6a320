"""Where a playbook run's time goes, task by task, read from its ansible-runner events.

A task's wall is the time from its ``playbook_on_task_start`` event to the next task's
(the last one's, to ``playbook_on_stats``): under the linear strategy, every host's
execution of the task falls inside it. Read from ``artifacts/<ident>/job_events``, which
``PhaseRunner`` keeps for each run (its ident names the phase).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class TaskWall:
    """One task of one run, and the time the run spent on it."""

    run: str
    task: str
    action: str
    wall_s: float


def task_walls(run_dir: Path) -> list[TaskWall]:
    """The tasks of the run whose artifacts are ``run_dir``, in the order they ran."""
    events = sorted(
        (json.loads(path.read_text()) for path in (run_dir / "job_events").glob("*.json")),
        key=lambda event: event["counter"],
    )
    starts = [event for event in events if event["event"] == "playbook_on_task_start"]
    ends = [event for event in events if event["event"] == "playbook_on_stats"]
    walls = []
    for start, next_mark in zip(starts, starts[1:] + ends[:1], strict=False):
        data = start.get("event_data") or {}
        wall_s = _at(next_mark) - _at(start)
        walls.append(
            TaskWall(run_dir.name, data.get("task", ""), data.get("task_action", ""), wall_s)
        )
    return walls


def _at(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["created"])).timestamp()


def by_action(walls: Iterable[TaskWall]) -> list[tuple[str, int, float]]:
    """Each action's tasks and their wall, the largest first."""
    totals: dict[str, tuple[int, float]] = {}
    for wall in walls:
        count, seconds = totals.get(wall.action, (0, 0.0))
        totals[wall.action] = (count + 1, seconds + wall.wall_s)
    return sorted(((a, n, s) for a, (n, s) in totals.items()), key=lambda row: -row[2])


def report(runs: Sequence[Path]) -> list[str]:
    """Lines for a terminal: each run's tasks, then the totals by action."""
    lines: list[str] = []
    every: list[TaskWall] = []
    for run_dir in runs:
        walls = task_walls(run_dir)
        every += walls
        lines.append(f"{run_dir.name}: {sum(w.wall_s for w in walls):.1f} s in {len(walls)} tasks")
        lines += [f"  {w.wall_s:6.2f} s  {w.action:<28} {w.task}" for w in walls]
    lines.append(f"by action, {len(every)} tasks, {sum(w.wall_s for w in every):.1f} s:")
    lines += [
        f"  {seconds:6.1f} s  {count:3d}  {action}" for action, count, seconds in by_action(every)
    ]
    return lines
