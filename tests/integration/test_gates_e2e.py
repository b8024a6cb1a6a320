"""Cutover gates through ``govmig run --warm --calendar``: each ready system waits at its gate.

Real broker, real ``govmig run`` with its phase worker on the ``local`` provider,
SQLite in ``tmp_path``, the default cutover policy (critical and high systems need
an approval) and a calendar written around the moment the test runs, in
Asia/Shanghai: a window open now for high and low systems, a freeze on now for
low ones, and for medium ones only a window days away. Three systems reach
``ready``: the high one waits for an approval, the low one for the freeze to
end, the medium one for its window; each says so in one line in ``govmig status``
and once in its history. Approved by someone other than its requester, the high
one cuts over inside its window; the others stay ready, their sources serving.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orchestrator.events.data import MigrationApproved
from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import SystemState
from orchestrator.providers.local_sandbox import prepare_source
from tests.fixtures.orchestrator import (
    count_rows,
    govmig_run,
    kafka_settings,
    publish,
    read_fleet,
    register_and_request,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.ansible]

GOVMIG = Path(sys.executable).parent / "govmig"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PHASES_TIMEOUT_S = 180
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def calendar_around(now: datetime) -> str:
    """Windows and a freeze placed around ``now`` (Shanghai wall clock, to the minute)."""
    local = now.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    opens, closes = local - timedelta(hours=2), local + timedelta(hours=2)
    later = local + timedelta(days=3)
    return f"""
time_zone: Asia/Shanghai
windows:
  - name: open-now
    days: [{WEEKDAYS[opens.weekday()]}]
    start: "{opens:%H:%M}"
    end: "{closes:%H:%M}"
    ends_next_day: {"true" if closes.date() != opens.date() else "false"}
    applies_to: {{criticalities: [high, low]}}
  - name: days-away
    days: [{WEEKDAYS[later.weekday()]}]
    start: "03:00"
    end: "04:00"
    applies_to: {{criticalities: [medium]}}
freezes:
  - name: drill
    start: "{local - timedelta(hours=1):%Y-%m-%d %H:%M}"
    end: "{local + timedelta(hours=3):%Y-%m-%d %H:%M}"
    applies_to: {{criticalities: [low]}}
"""


def one_of(criticality: str) -> BusinessSystem:
    return next(
        s for s in generate_catalogue(80) if not s.depends_on and s.criticality == criticality
    )


def status(url: str, cwd: Path) -> dict[str, Any]:
    """``govmig status --output json``, as an operator runs it."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("GOVMIG_")}
    result = subprocess.run(
        [str(GOVMIG), "status", "--state-db", url, "--output", "json"],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env=clean,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_each_ready_system_waits_at_its_gate_and_an_approved_one_cuts_over_in_its_window(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    high, low, medium = one_of("high"), one_of("low"), one_of("medium")
    for system in (high, low, medium):
        prepare_source(work, system.id, 3, 24_000, seed=5)
    calendar = tmp_path / "calendar.yml"
    calendar.write_text(calendar_around(datetime.now(UTC)), encoding="utf-8")
    register_and_request(settings, [high, low, medium], target="shantou")
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    options = (
        "--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"),
        "--warm", "--ready-budget", "30", "--delta-interval", "1",
        "--calendar", str(calendar),
    )  # fmt: skip
    held = "SELECT count(*) FROM systems WHERE state = 'ready' AND waiting IS NOT NULL"
    with govmig_run(settings, url, tmp_path, *options) as run:
        wait_until(lambda: count_rows(url, held) == 3, timeout_s=PHASES_TIMEOUT_S, what="3 held")
        waiting = {s["id"]: s["waiting"] for s in status(url, tmp_path)["systems"]}
        publish(
            settings,
            [MigrationApproved(system_id=high.id, change_ref="CHG-42", approved_by="bob")],
        )
        done = f"SELECT count(*) FROM systems WHERE id = '{high.id}' AND state = 'completed'"
        wait_until(lambda: count_rows(url, done) == 1, timeout_s=PHASES_TIMEOUT_S, what="cutover")
        after = {s["id"]: s for s in status(url, tmp_path)["systems"]}
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    assert waiting[high.id] == (
        "approval: its policy needs an approval by someone other than tests under a change "
        "reference (govmig approve)"
    )
    assert waiting[low.id].startswith("freeze: freeze 'drill' is on until ")
    assert waiting[medium.id].startswith(
        "window: no maintenance window is open; next, window 'days-away' opens "
    )
    assert waiting[medium.id].endswith(" 03:00 CST")
    # The approved one went; its wait was cleared. The others still wait, said once each.
    assert (after[high.id]["state"], after[high.id]["waiting"]) == ("completed", None)
    assert [after[s.id]["state"] for s in (low, medium)] == ["ready", "ready"]
    audit = read_fleet(url).audit
    started = [r.reason or "" for r in audit[high.id] if r.to_state is SystemState.CUTOVER]
    assert len(started) == 1
    assert "window 'open-now' open until " in started[0]
    assert "; approved by bob under CHG-42" in started[0]
    for system, reason in ((high, "approval"), (low, "freeze"), (medium, "window")):
        refused = [r.reason or "" for r in audit[system.id] if r.to_state is None]
        held_for = [why for why in refused if why.startswith(f"cutover not started: {reason}:")]
        assert len(held_for) == 1, refused
