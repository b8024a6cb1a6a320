"""``kept_events``: a finished run's events as ansible-runner kept them, in the order they
happened (by their counter, not their files' names). The real runs' artifacts are read
with it in test_executor and test_mitogen_strategy."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.execution.runner import kept_events


def test_a_runs_events_come_in_the_order_they_happened(tmp_path: Path) -> None:
    events = tmp_path / "job_events"
    events.mkdir()
    for counter, kind in ((10, "runner_on_ok"), (9, "runner_on_start"), (1, "playbook_on_start")):
        record = {"counter": counter, "event": kind}
        (events / f"{counter}-{kind}.json").write_text(json.dumps(record))

    kept = kept_events(tmp_path)

    assert [event["event"] for event in kept] == [
        "playbook_on_start",
        "runner_on_start",
        "runner_on_ok",
    ]
