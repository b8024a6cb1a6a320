"""Gated waves through ``govmig run --wave-threshold``: a wave that goes badly halts the next.

Real broker, real ``govmig run`` with its phase worker on the ``local`` provider,
SQLite in ``tmp_path``. Wave 1 has two systems, one of which fails its preflight
(an injected fault) and rolls back: half the wave, over the 20% threshold. The
wave halts, which the status topic announces; wave 2's system stays ``placed``,
saying in one line which wave holds it, and ``govmig wave`` shows both. Once an
operator resumes wave 1, the resume is announced too, and wave 2 starts and
completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.bus import Producer
from orchestrator.events.data import MigrationRequested, WaveResumeRequested, WaveStatusChanged
from orchestrator.events.registration import registration_records
from orchestrator.inventory import generate_catalogue
from orchestrator.migrations import SystemState
from orchestrator.providers.local_sandbox import prepare_source
from orchestrator.settings import KafkaSettings
from tests.fixtures.orchestrator import (
    count_rows,
    govmig_run,
    kafka_settings,
    publish,
    read_fleet,
    status_events,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.ansible]

GOVMIG = Path(sys.executable).parent / "govmig"
PHASES_TIMEOUT_S = 180


def waves(url: str, cwd: Path) -> dict[int, dict[str, Any]]:
    """``govmig wave --output json``, by wave, as an operator runs it."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("GOVMIG_")}
    result = subprocess.run(
        [str(GOVMIG), "wave", "--state-db", url, "--output", "json"],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env=clean,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {row["wave"]: row for row in json.loads(result.stdout)["waves"]}


def wave_events(settings: KafkaSettings) -> list[tuple[str, WaveStatusChanged]]:
    """Each ``gov.cloud.wave.status_changed`` on the status topic: its id and data, in order."""
    return [
        (event.id, event.data)
        for event in status_events(settings)
        if isinstance(event.data, WaveStatusChanged)
    ]


def in_state(url: str, state: SystemState, system_id: str) -> bool:
    query = f"SELECT count(*) FROM systems WHERE id = '{system_id}' AND state = '{state}'"
    return count_rows(url, query) == 1


def test_a_wave_over_its_threshold_halts_the_next_until_it_is_resumed(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    failing, passing, later = [s for s in generate_catalogue(80) if not s.depends_on][:3]
    for system in (failing, passing, later):
        prepare_source(work, system.id, 2, 8_000, seed=3)
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, registration_records([failing, passing, later]))
    waves_of = {failing: 1, passing: 1, later: 2}
    publish(
        settings,
        [
            MigrationRequested(system_id=s.id, target_node="shantou", wave=w, requested_by="e2e")
            for s, w in waves_of.items()
        ],
    )
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    options = (
        "--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"),
        "--wave-threshold", "0.2",
    )  # fmt: skip
    env = {"GOVMIG_INJECT_FAILURES": f"{failing.id}:preflight"}
    held = f"SELECT count(*) FROM systems WHERE id = '{later.id}' AND waiting LIKE 'wave: %halted%'"
    with govmig_run(settings, url, tmp_path, *options, env=env) as run:
        wait_until(
            lambda: (
                in_state(url, SystemState.ROLLED_BACK, failing.id)
                and in_state(url, SystemState.COMPLETED, passing.id)
                and count_rows(url, held) == 1
            ),
            timeout_s=PHASES_TIMEOUT_S,
            what="wave 1 over, halted, and wave 2 held",
        )
        halted = waves(url, tmp_path)
        assert in_state(url, SystemState.PLACED, later.id)  # held: it never started
        wait_until(lambda: wave_events(settings) != [], timeout_s=30, what="the halt announced")
        announced_halted = wave_events(settings)
        publish(settings, [WaveResumeRequested(wave=1, requested_by="ops", reason="understood")])
        wait_until(
            lambda: in_state(url, SystemState.COMPLETED, later.id),
            timeout_s=PHASES_TIMEOUT_S,
            what="wave 2 started and completed once wave 1 was resumed",
        )
        resumed = waves(url, tmp_path)
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    assert (halted[1]["state"], halted[1]["finished"], halted[1]["rolled_back_or_failed"]) == (
        "halted",
        2,
        1,
    )
    breach = "1 of 2 rolled back or failed (50%), over 20%"
    assert halted[1]["halted"]["reason"] == breach
    assert [(i, d.wave, d.state, d.reason, d.requested_by) for i, d in announced_halted] == [
        ("wave-1-halted", 1, "halted", breach, None)
    ]
    assert [(i, d.wave, d.state, d.reason, d.requested_by) for i, d in wave_events(settings)] == [
        ("wave-1-halted", 1, "halted", breach, None),
        ("wave-1-resumed", 1, "resumed", "understood", "ops"),
    ]
    assert halted[2]["state"] == "waiting"
    assert resumed[1]["state"] == "finished"
    assert resumed[1]["halted"]["resumed_by"] == "ops"
    assert resumed[2]["state"] == "finished"
    refused = [r.reason or "" for r in read_fleet(url).audit[later.id] if r.to_state is None]
    assert (
        refused.count(
            "not started: wave: wave 1 is halted: 1 of 2 rolled back or failed (50%); "
            "govmig wave resume 1 (system is placed)"
        )
        == 1
    ), refused
