"""A run's time by task, from the events ansible-runner keeps (``bench.task_times``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.task_times import TaskTime, by_action, report, task_times

# (event, created second, host, task uuid, task, action)
Event = tuple[str, float, str, str, str, str]


def write_events(run_dir: Path, events: list[Event]) -> None:
    """``events``, numbered in order, written out of order."""
    (run_dir / "job_events").mkdir(parents=True)
    for counter, (event, second, host, uuid, task, action) in reversed(list(enumerate(events, 1))):
        data = {"host": host, "task_uuid": uuid, "task": task, "task_action": action}
        created = f"2026-12-06T19:01:{second:09.6f}"
        record = {"counter": counter, "event": event, "created": created, "event_data": data}
        (run_dir / "job_events" / f"{counter}-x.json").write_text(json.dumps(record))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """Two hosts going through two tasks at their own pace, as the free strategy runs them."""
    run = tmp_path / "20261206T190111-preflight-shantou-1-abc"
    copy = "ansible.builtin.copy"
    write_events(
        run,
        [
            ("playbook_on_start", 10.0, "", "", "", ""),
            ("runner_on_start", 11.0, "a", "t1", "Ask", "govmig_http"),
            ("runner_on_start", 11.5, "b", "t1", "Ask", "govmig_http"),
            ("runner_on_ok", 11.25, "a", "t1", "Ask", "govmig_http"),
            ("runner_on_start", 12.0, "a", "t2", "Copy", copy),
            ("runner_on_failed", 12.0, "b", "t1", "Ask", "govmig_http"),
            ("runner_on_skipped", 13.5, "a", "t2", "Copy", copy),
            ("runner_on_start", 14.0, "b", "t3", "Check", copy),  # never ends: not counted
            ("playbook_on_stats", 15.0, "", "", "", ""),
        ],
    )
    return run


def test_each_task_adds_up_what_its_hosts_spent_in_it(run_dir: Path) -> None:
    times = task_times(run_dir)
    assert [(t.task, t.action, t.hosts) for t in times] == [
        ("Ask", "govmig_http", 2),
        ("Copy", "ansible.builtin.copy", 1),
        ("Check", "ansible.builtin.copy", 0),
    ]
    assert [t.host_s for t in times] == pytest.approx([0.75, 1.5, 0.0])
    assert {t.run for t in times} == {run_dir.name}


def test_actions_add_up_largest_first(run_dir: Path) -> None:
    totals = by_action(task_times(run_dir))
    assert [(action, count) for action, count, _ in totals] == [
        ("ansible.builtin.copy", 2),
        ("govmig_http", 1),
    ]
    assert [seconds for _, _, seconds in totals] == pytest.approx([1.5, 0.75])
    assert by_action([TaskTime("r", "t", "a", 1, 1.0)]) == [("a", 1, 1.0)]


def test_the_report_names_each_run_its_tasks_and_the_totals(run_dir: Path) -> None:
    lines = report([run_dir])
    assert lines[0] == f"{run_dir.name}: 2.2 host-s in 3 tasks"
    assert lines[1] == "    0.75 s    2  govmig_http                  Ask"
    assert lines[4] == "by action, 3 tasks, 2.2 host-s:"
    assert lines[5] == "     1.5 s    2  ansible.builtin.copy"
