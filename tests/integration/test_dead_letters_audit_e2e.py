"""Dead letters reach the chained audit through ``govmig run``, as well as the DLQ topic.

Real broker, real ``govmig run`` (intake only), SQLite: a record that is not JSON
(keyed by a system id), a request naming a node that does not exist, and an unkeyed
record that is not even an event. Each is dead-lettered with its reason and audited
once, in its system's chain or the chain of records without a system key; the audit
verifies, the export shows them, and none becomes a status event.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.bus import Producer, read_topic
from orchestrator.bus.types import RawRecord
from orchestrator.engine.dead_letters import UNKEYED_CHAIN
from orchestrator.events import encode, new_event
from orchestrator.events.data import MigrationRequested
from tests.fixtures.cli import govmig as run_govmig
from tests.fixtures.orchestrator import count_rows, govmig_run, kafka_settings
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka]

SYSTEM = "shantou-psb-001"


def test_each_dead_letter_is_audited_once_in_a_chain_that_verifies(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic, events=1)
    nowhere = MigrationRequested(system_id=SYSTEM, target_node="atlantis", requested_by="ops")
    with Producer(settings) as producer:
        producer.send_all(
            settings.events_topic,
            [
                RawRecord(key=SYSTEM.encode(), value=b"{not json", headers=()),
                encode(new_event(nowhere, source="/tests", id="req-atlantis")),
                RawRecord(key=None, value=b"\x00garbage", headers=()),
            ],
        )
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    audited = "SELECT count(*) FROM transitions WHERE cause = 'dead_letter'"
    with govmig_run(settings, url, tmp_path) as run:
        wait_until(lambda: count_rows(url, audited) == 3, timeout_s=60, what="3 audited")
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    letters = list(read_topic(settings, settings.dlq_topic))
    reasons = sorted(dict(letter.headers)["govmig_dlq_reason"] for letter in letters)
    assert reasons == [b"not_json", b"not_json", b"unknown_node"]
    assert list(read_topic(settings, settings.status_topic)) == []  # the DLQ announces them

    def govmig(*args: str) -> subprocess.CompletedProcess[str]:
        return run_govmig(*args, "--state-db", url)

    verified = govmig("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    exported = govmig("audit", "export")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted((r["system_id"], r["cause"], r["result"], r["event_id"] or "") for r in rows) == [
        (UNKEYED_CHAIN, "dead_letter", "refused", ""),
        (SYSTEM, "dead_letter", "refused", ""),
        (SYSTEM, "dead_letter", "refused", "req-atlantis"),
    ]
    (request,) = [row for row in rows if row["event_id"] == "req-atlantis"]
    assert request["reason"].startswith("dead-lettered as unknown_node: ")
    assert request["event_source"] == "/tests"
