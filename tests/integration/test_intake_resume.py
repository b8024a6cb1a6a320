"""Intake recovers on the operator's terms: a flood pauses it, ``govmig intake resume`` ends that.

The real broker and ``govmig run`` with a ten-minute cooldown: a flood of
broken records trips the flood guard, and valid registrations published after
it wait. ``govmig intake status`` says why and until when; ``govmig intake
resume`` (an event on the control topic, which the pause leaves flowing) ends
the pause at once, the waiting registrations are processed, and the store
records who ended the pause and why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.bus import Producer
from orchestrator.bus.types import RawRecord
from orchestrator.inventory import generate_catalogue
from orchestrator.settings import KafkaSettings
from tests.fixtures.orchestrator import count_sqlite, govmig_run, kafka_settings, publish
from tests.fixtures.polling import wait_until

pytestmark = pytest.mark.kafka

REGISTERED = "SELECT count(*) FROM systems"
PAUSED = "SELECT count(*) FROM intake_pauses WHERE resumed_at IS NULL"
FLOOD = 80  # more than the guard's minimum sample (50), all broken


def govmig_intake(
    settings: KafkaSettings, db: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVMIG_CONTROL_TOPIC": settings.control_topic}
    command = [sys.executable, "-m", "orchestrator", "intake", *args]
    done = subprocess.run(
        [*command, "--state-db", f"sqlite:///{db}"] if args[0] == "status" else
        [*command, "--bootstrap-servers", settings.bootstrap_servers],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_a_flood_pauses_intake_until_an_operator_resumes_it(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    with Producer(settings) as producer:
        broken = [RawRecord(key=b"x", value=b"not json %d" % i) for i in range(FLOOD)]
        producer.send_all(settings.events_topic, broken)
    db = tmp_path / "govmig.db"
    cooldown = {"GOVMIG_FLOOD_COOLDOWN_S": "600"}
    with govmig_run(settings, f"sqlite:///{db}", tmp_path, env=cooldown) as run:
        wait_until(lambda: count_sqlite(db, PAUSED) == 1, timeout_s=60, what="the flood guard")
        waiting = generate_catalogue(5)
        publish(settings, waiting)
        status = json.loads(govmig_intake(settings, db, "status", "--output", "json").stdout)
        (pause,) = status["pauses"]
        until = datetime.fromisoformat(pause["until"])
        assert status["paused"] is True
        assert "dead-letter flood" in pause["reason"]
        assert until - datetime.now(UTC) > timedelta(minutes=9), "the configured cooldown"
        time.sleep(3)
        assert count_sqlite(db, REGISTERED) == 0, "valid events wait behind the pause"
        assert "pausing intake for 600 s" in run.output()

        govmig_intake(settings, db, "resume", "--reason", "producer fixed", "--requested-by", "ops")
        wait_until(
            lambda: count_sqlite(db, REGISTERED) == len(waiting),
            timeout_s=30,
            what=lambda: f"the waiting registrations: {run.output()}",
        )
        run.assert_alive()
        run.signal(signal.SIGTERM)
        assert run.wait(30) == 0, run.output()
    assert count_sqlite(db, PAUSED) == 0
    ended = (
        "SELECT count(*) FROM intake_pauses"
        " WHERE resumed_by = 'ops' AND resume_reason = 'producer fixed'"
    )
    assert count_sqlite(db, ended) == 1, "who ended the pause, and why, is recorded"
    assert "intake is running" in govmig_intake(settings, db, "status").stdout
