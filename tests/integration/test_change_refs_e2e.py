"""Change references and reasons on requests, through the real broker and ``govmig run``.

Under the sample change policy (``inventory/cutover-policy.yml``: every request about a
critical system names its change), a request another producer sends without one is
refused by the orchestrator, audited and announced; the CLI refuses the same request
before sending it, with the same words; sent under its change and with a reason, it is
placed, and the audit export carries both, in a chain that verifies.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.bus import Producer
from orchestrator.events.data import MigrationRequested
from orchestrator.events.registration import registration_records
from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from tests.fixtures.cli import govmig as run_govmig
from tests.fixtures.orchestrator import (
    count_rows,
    govmig_run,
    kafka_settings,
    publish,
    wait_for_states,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka]

POLICY = DEFAULT_INVENTORY_ROOT / "cutover-policy.yml"
SYSTEM = "qingyuan-hsa-001"  # critical: the sample policy asks its requests for a change
REFUSAL = (
    "cannot migrate: the change policy requires a change reference for critical systems; "
    "name the change (ticket) with --change-ref"
)


def govmig(settings: KafkaSettings, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as an operator runs it, against this test's broker, topics and store."""
    return run_govmig(
        *args, "--state-db", url,
        env={"GOVMIG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
             "GOVMIG_EVENTS_TOPIC": settings.events_topic},
    )  # fmt: skip


def test_a_request_names_its_change_or_is_refused_by_the_cli_and_the_orchestrator(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    system = next(s for s in generate_catalogue(80) if s.id == SYSTEM)
    assert system.criticality == "critical"
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, registration_records([system]))
    # Another producer (an inventory tool) asks without a change.
    publish(settings, [MigrationRequested(system_id=SYSTEM, requested_by="sync-tool")])
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    refused = f"SELECT count(*) FROM transitions WHERE cause = 'migrate' AND refused = {True:d}"
    with govmig_run(settings, url, tmp_path, "--cutover-policy", str(POLICY)) as run:
        wait_until(lambda: count_rows(url, refused) == 1, timeout_s=60, what="the refusal")
        migrate = ("migrate", SYSTEM, "--cutover-policy", str(POLICY), "--actor", "alice")
        without = govmig(settings, url, *migrate, "--reason", "机房搬迁")
        assert without.returncode == 2, without.stderr  # bad input
        assert f"{SYSTEM}: {REFUSAL}" in without.stderr
        under = govmig(
            settings, url, *migrate, "--reason", "机房搬迁", "--change-ref", "CHG-2027-015"
        )
        assert under.returncode == 0, under.stderr
        wait_for_states(url, {SYSTEM: SystemState.PLACED}, run, timeout_s=60)
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    assert count_rows(url, refused) == 1  # the CLI's refusal sent nothing

    exported = govmig(settings, url, "audit", "export", "--system", SYSTEM)
    assert exported.returncode == 0, exported.stderr
    rows: list[dict[str, Any]] = [json.loads(line) for line in exported.stdout.splitlines()]
    asked = [(r["cause"], r["result"], r["actor"], r["change_ref"]) for r in rows]
    assert asked == [
        ("register", "applied", "intake", None),
        ("migrate", "refused", "sync-tool", None),
        ("migrate", "applied", "alice", "CHG-2027-015"),
        ("place", "applied", "placement", "CHG-2027-015"),
    ]
    assert rows[1]["reason"] == REFUSAL
    assert rows[2]["reason"] == "migration requested by alice (given reason: 机房搬迁)"
    export = tmp_path / "audit.jsonl"
    export.write_text(exported.stdout)
    verified = govmig(settings, url, "audit", "verify", "--file", str(export))
    assert verified.returncode == 0, verified.stdout + verified.stderr
