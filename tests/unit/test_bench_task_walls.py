"""A run's time by task, from the events ansible-runner keeps (``bench.task_walls``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.task_walls import TaskWall, by_action, report, task_walls


def write_events(run_dir: Path, events: list[tuple[str, str, str, str]]) -> None:
    """``events``: (event, created, task, action), numbered in order, written out of order."""
    (run_dir / "job_events").mkdir(parents=True)
    for counter, (event, created, task, action) in reversed(list(enumerate(events, 1))):
        data = {"task": task, "task_action": action} if task else {}
        record = {"counter": counter, "event": event, "created": created, "event_data": data}
        (run_dir / "job_events" / f"{counter}-x.json").write_text(json.dumps(record))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "20261206T190111-preflight-shantou-1-abc"
    write_events(
        run,
        [
            ("playbook_on_start", "2026-12-06T19:01:11.000000", "", ""),
            ("playbook_on_task_start", "2026-12-06T19:01:12.000000", "Ask", "govmig_http"),
            ("runner_on_ok", "2026-12-06T19:01:12.300000", "Ask", "govmig_http"),
            (
                "playbook_on_task_start",
                "2026-12-06T19:01:12.500000",
                "Copy",
                "ansible.builtin.copy",
            ),
            (
                "playbook_on_task_start",
                "2026-12-06T19:01:14.000000",
                "Check",
                "ansible.builtin.copy",
            ),
            ("playbook_on_stats", "2026-12-06T19:01:14.250000", "", ""),
        ],
    )
    return run


def test_each_task_lasts_until_the_next_starts_and_the_last_until_the_stats(run_dir: Path) -> None:
    walls = task_walls(run_dir)
    assert [(w.task, w.action) for w in walls] == [
        ("Ask", "govmig_http"),
        ("Copy", "ansible.builtin.copy"),
        ("Check", "ansible.builtin.copy"),
    ]
    assert [w.wall_s for w in walls] == pytest.approx([0.5, 1.5, 0.25])
    assert {w.run for w in walls} == {run_dir.name}


def test_actions_add_up_largest_first(run_dir: Path) -> None:
    totals = by_action(task_walls(run_dir))
    assert [(action, count) for action, count, _ in totals] == [
        ("ansible.builtin.copy", 2),
        ("govmig_http", 1),
    ]
    assert [seconds for _, _, seconds in totals] == pytest.approx([1.75, 0.5])
    assert by_action([TaskWall("r", "t", "a", 1.0)]) == [("a", 1, 1.0)]


def test_the_report_names_each_run_its_tasks_and_the_totals(run_dir: Path) -> None:
    lines = report([run_dir])
    assert lines[0] == f"{run_dir.name}: 2.2 s in 3 tasks"
    assert lines[1] == "    0.50 s  govmig_http                  Ask"
    assert lines[4] == "by action, 3 tasks, 2.2 s:"
    assert lines[5] == "     1.8 s    2  ansible.builtin.copy"
