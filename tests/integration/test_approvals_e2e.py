"""Approvals (four eyes) through ``govmig run``: events in, decided, kept, shown in status.

Real broker, real ``govmig run`` with its phase worker on the ``local`` provider
(a real source and real playbooks), SQLite in ``tmp_path``. One system is
migrated with warm replication until it is ``ready``, and held there (its
downtime budget is one no forecast fits), where approvals matter. It is
approved by its own requester (refused, audited), by another actor (kept,
shown by ``govmig status``), rejected (withdrawn), and approved again, to read
that approval past its time to live at a clock the test chooses. Then a policy
that allows self-approval, named by ``GOVMIG_CUTOVER_POLICY``, reaches the intake.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.events.data import MigrationApproved, MigrationRejected
from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.cutover_policy import load_cutover_policy
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, load_departments
from orchestrator.migrations import SystemState
from orchestrator.providers.local_sandbox import prepare_source
from orchestrator.settings import KafkaSettings
from orchestrator.store import approvals as approval_store
from orchestrator.store import open_store
from tests.fixtures.cli import govmig as run_govmig
from tests.fixtures.orchestrator import (
    count_rows,
    govmig_run,
    kafka_settings,
    publish,
    register_and_request,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.ansible]

POLICY = DEFAULT_INVENTORY_ROOT / "cutover-policy.yml"
# A medium system of a department the sample policy names: it needs an approval.
SYSTEM = "shantou-psb-001"
REQUESTER = "tests"  # who ``register_and_request`` says asked for the migration
PHASES_TIMEOUT_S = 150


def request_system(settings: KafkaSettings, tmp_path: Path) -> str:
    """Register ``SYSTEM`` and request its migration to shantou; the state store's URL."""
    system = next(s for s in generate_catalogue(80) if s.id == SYSTEM)
    register_and_request(settings, [system], target="shantou")
    return f"sqlite:///{tmp_path / 'govmig.db'}"


def status(url: str, tmp_path: Path) -> Any:
    """``govmig status SYSTEM --output json`` under the sample policy, as an operator runs it."""
    result = run_govmig(
        "status", SYSTEM, "--state-db", url, "--output", "json", "--cutover-policy", str(POLICY),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_approval_needs_another_actor_is_shown_withdrawn_and_expires(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    prepare_source(work, SYSTEM, 3, 24_000, seed=13)
    url = request_system(settings, tmp_path)
    options = (
        "--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"),
        "--warm", "--ready-budget", "30", "--delta-interval", "1",
        "--downtime-budgets", "medium=0.001", "--cutover-policy", str(POLICY),
    )  # fmt: skip
    approvals = f"SELECT count(*) FROM approvals WHERE system_id = '{SYSTEM}'"
    withdrawn = f"{approvals} AND withdrawn_at IS NOT NULL"
    refused = f"SELECT count(*) FROM transitions WHERE cause = 'approve' AND refused = {True:d}"
    with govmig_run(settings, url, tmp_path, *options) as run:
        ready = f"SELECT count(*) FROM systems WHERE id = '{SYSTEM}' AND state = 'ready'"
        wait_until(lambda: count_rows(url, ready) == 1, timeout_s=PHASES_TIMEOUT_S, what="ready")
        publish(
            settings,
            [
                MigrationApproved(system_id=SYSTEM, change_ref="CHG-0", approved_by=REQUESTER),
                MigrationApproved(
                    system_id=SYSTEM, change_ref="CHG-1", comment="rehearsed", approved_by="bob"
                ),
            ],
        )
        wait_until(lambda: count_rows(url, approvals) == 1, timeout_s=60, what="bob's approval")
        assert count_rows(url, refused) == 1
        approved = status(url, tmp_path)
        publish(
            settings, [MigrationRejected(system_id=SYSTEM, change_ref="CHG-2", rejected_by="c")]
        )
        wait_until(lambda: count_rows(url, withdrawn) == 1, timeout_s=60, what="the withdrawal")
        rejected = status(url, tmp_path)
        publish(
            settings, [MigrationApproved(system_id=SYSTEM, change_ref="CHG-3", approved_by="d")]
        )
        wait_until(lambda: count_rows(url, approvals) == 2, timeout_s=60, what="a new approval")
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    assert approved["system"]["state"] == "ready"
    assert approved["approval"]["needed"] is True
    live = approved["approval"]["live"]
    assert (live["approved_by"], live["change_ref"], live["comment"]) == (
        "bob",
        "CHG-1",
        "rehearsed",
    )
    assert live["expires_at"] > live["granted_at"]
    decisions = [row for row in approved["history"] if row["cause"] == "approve"]
    assert [(r["actor"], r["change_ref"], r["refused"]) for r in decisions] == [
        (REQUESTER, "CHG-0", True),
        ("bob", "CHG-1", False),
    ]
    assert decisions[0]["reason"] == (
        f"approval refused: {REQUESTER} approves the migration {REQUESTER} requested "
        "(change CHG-0); four eyes need another approver (system is ready)"
    )
    assert (
        decisions[1]["reason"] == "cutover approved by bob under change CHG-1 (comment: rehearsed)"
    )
    assert all(row["at"] for row in decisions)
    assert rejected["approval"] == {"needed": True, "live": None}
    # Replication passes go on meanwhile: the reject is the last row of its cause.
    reject = [row for row in rejected["history"] if row["cause"] == "reject"][-1]
    assert reject["change_ref"] == "CHG-2"

    # The last approval is live until its time to live is over, at whatever clock reads it.
    ttl = load_cutover_policy(POLICY, load_departments()).approval_ttl
    with open_store(url, create=False) as store, store.session() as session:
        last = approval_store.approvals_of(session, SYSTEM)[-1]
        expiry = last.expires_at(ttl)
        assert approval_store.live(session, SYSTEM, now=expiry - timedelta(seconds=1), ttl=ttl)
        assert approval_store.live(session, SYSTEM, now=expiry, ttl=ttl) is None
    assert (last.approver, last.change_ref, last.withdrawn_at) == ("d", "CHG-3", None)
    assert count_rows(url, f"SELECT count(*) FROM systems WHERE state = '{SystemState.READY}'") == 1


def test_a_policy_that_allows_self_approval_reaches_govmig_run(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    """Through GOVMIG_CUTOVER_POLICY; intake only, so the system rests placed."""
    settings = kafka_settings(kafka_bootstrap, new_topic)
    lenient = tmp_path / "cutover-policy.yml"
    lenient.write_text("approval:\n  self_approval: true\n  ttl_hours: 1\n")
    url = request_system(settings, tmp_path)
    publish(
        settings, [MigrationApproved(system_id=SYSTEM, change_ref="C-1", approved_by=REQUESTER)]
    )
    approvals = f"SELECT count(*) FROM approvals WHERE approver = '{REQUESTER}'"
    env = {"GOVMIG_CUTOVER_POLICY": str(lenient)}
    with govmig_run(settings, url, tmp_path, env=env) as run:
        wait_until(lambda: count_rows(url, approvals) == 1, timeout_s=60, what="a self-approval")
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    with open_store(url, create=False) as store, store.session() as session:
        [approval] = approval_store.approvals_of(session, SYSTEM)
    assert (approval.change_ref, approval.withdrawn_at) == ("C-1", None)


def test_a_cold_migration_waits_in_ready_for_its_approval_and_cuts_over_when_given(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    """Cold (one pass, no --warm): the system still waits at its gates, here for an
    approval, and is asked again the moment one comes, with no pass of its own to wait for."""
    settings = kafka_settings(kafka_bootstrap, new_topic)
    prepare_source(work, SYSTEM, 2, 8_000, seed=17)
    url = request_system(settings, tmp_path)
    options = (
        "--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"),
        "--cutover-policy", str(POLICY),
    )  # fmt: skip
    held = (
        f"SELECT count(*) FROM systems WHERE id = '{SYSTEM}' AND state = 'ready' "
        "AND waiting_reason = 'approval'"
    )
    done = f"SELECT count(*) FROM systems WHERE id = '{SYSTEM}' AND state = 'completed'"
    with govmig_run(settings, url, tmp_path, *options) as run:
        wait_until(lambda: count_rows(url, held) == 1, timeout_s=PHASES_TIMEOUT_S, what="held")
        waiting = status(url, tmp_path)
        publish(
            settings, [MigrationApproved(system_id=SYSTEM, change_ref="CHG-5", approved_by="bob")]
        )
        wait_until(lambda: count_rows(url, done) == 1, timeout_s=PHASES_TIMEOUT_S, what="done")
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    assert waiting["system"]["waiting"].startswith("approval: its policy needs an approval")
    history = status(url, tmp_path)["history"]
    states = [row["to_state"] for row in history if row["to_state"]]
    # Ready after its one pass; the approval is recorded there (ready to ready), then it goes.
    assert states[-6:] == ["replicating", "ready", "ready", "cutover", "verifying", "completed"]
    [went] = [row["reason"] for row in history if row["to_state"] == "cutover"]
    assert "(a cold cutover)" in went
    assert "approved by bob under CHG-5" in went
    assert "asked again: what held it changed" in went
