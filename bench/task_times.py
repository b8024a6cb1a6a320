"""Where a playbook run's time goes, task by task, read from its ansible-runner events.

Each host's execution of a task lasts from its ``runner_on_start`` event to the event that
ends it for that host (ok, failed, skipped, unreachable). Under ``govmig_mitogen``, a free
strategy, each host goes through its tasks at its own pace, so a task has no one wall of
its own: its time is what its hosts spent in it, added up (host-seconds), which under
concurrency adds up to more than the run's wall. Read from ``artifacts/<ident>/job_events``,
which ``PhaseRunner`` keeps for each run (its ident names the phase).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from orchestrator.execution.runner import kept_events

ENDS = frozenset({"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"})


@dataclass(frozen=True)
class TaskTime:
    """One task of one run: how many hosts ran it, and the seconds they spent in it."""

    run: str
    task: str
    action: str
    hosts: int
    host_s: float


def task_times(run_dir: Path) -> list[TaskTime]:
    """The tasks of the run whose artifacts are ``run_dir``, in the order they first started."""
    events = kept_events(run_dir)
    started: dict[tuple[str, str], float] = {}
    tasks: dict[str, tuple[str, str]] = {}  # by uuid: its name and action
    spent: dict[str, list[float]] = {}
    for event in events:
        data = event.get("event_data") or {}
        key = (str(data.get("host", "")), str(data.get("task_uuid", "")))
        if event["event"] == "runner_on_start":
            started[key] = _at(event)
            tasks.setdefault(key[1], (data.get("task", ""), data.get("task_action", "")))
        elif event["event"] in ENDS and key in started:
            spent.setdefault(key[1], []).append(_at(event) - started.pop(key))
    return [
        TaskTime(run_dir.name, task, action, len(spent.get(uuid, [])), sum(spent.get(uuid, [])))
        for uuid, (task, action) in tasks.items()
    ]


def _at(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["created"])).timestamp()


def by_action(times: Iterable[TaskTime]) -> list[tuple[str, int, float]]:
    """Each action's tasks and their host-seconds, the largest first."""
    totals: dict[str, tuple[int, float]] = {}
    for time in times:
        count, seconds = totals.get(time.action, (0, 0.0))
        totals[time.action] = (count + 1, seconds + time.host_s)
    return sorted(((a, n, s) for a, (n, s) in totals.items()), key=lambda row: -row[2])


def report(runs: Sequence[Path]) -> list[str]:
    """Lines for a terminal: each run's tasks, then the totals by action."""
    lines: list[str] = []
    every: list[TaskTime] = []
    for run_dir in runs:
        times = task_times(run_dir)
        every += times
        total = sum(t.host_s for t in times)
        lines.append(f"{run_dir.name}: {total:.1f} host-s in {len(times)} tasks")
        lines += [f"  {t.host_s:6.2f} s  {t.hosts:3d}  {t.action:<28} {t.task}" for t in times]
    lines.append(f"by action, {len(every)} tasks, {sum(t.host_s for t in every):.1f} host-s:")
    lines += [
        f"  {seconds:6.1f} s  {count:3d}  {action}" for action, count, seconds in by_action(every)
    ]
    return lines
