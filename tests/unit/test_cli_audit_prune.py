"""``govmig audit prune``: never younger than the retention; what it removes is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import build_app
from orchestrator.cli.audit import AUDIT_CHAIN, check_retention
from orchestrator.errors import PermanentError
from orchestrator.migrations import SystemState
from orchestrator.store import AuditEntry, append_audit, history, open_store, verify_chains

app = build_app()

runner = CliRunner()
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "retention", "message"),
    [
        (
            NOW - timedelta(days=400),
            30,
            "--retention-days 30: the audit is kept at least 180 days (Cybersecurity Law "
            "art. 21: six months)",
        ),
        (
            NOW - timedelta(days=10),
            180,
            "refusing to prune records younger than the retention (180 days): --before must be "
            "at or before 2026-06-05T08:00:00Z, not 2026-11-22T08:00:00Z",
        ),
        (
            NOW - timedelta(days=200),
            365,
            "refusing to prune records younger than the retention (365 days): --before must be "
            "at or before 2025-12-02T08:00:00Z, not 2026-05-16T08:00:00Z",
        ),
    ],
    ids=["retention-under-the-law", "too-recent", "too-recent-for-a-longer-retention"],
)
def test_a_prune_younger_than_the_retention_is_refused(
    before: datetime, retention: int, message: str
) -> None:
    with pytest.raises(PermanentError) as refused:
        check_retention(before, now=NOW, retention_days=retention)
    assert str(refused.value) == message


@pytest.mark.parametrize("retention", [180, 365])
def test_a_prune_at_or_past_the_retention_is_allowed(retention: int) -> None:
    check_retention(NOW - timedelta(days=retention), now=NOW, retention_days=retention)


def old_and_new_records(url: str) -> None:
    """One system's chain: two records a year old (published), then one from today."""
    now = datetime.now(UTC)
    ages = [timedelta(days=400), timedelta(days=399), timedelta(0)]
    with open_store(url) as store, store.transaction() as session:
        for age in ages:
            moment = now - age
            entry = AuditEntry(
                system_id="gz-tax",
                from_state=None,
                to_state=SystemState.REGISTERED,
                reason="registered",
                cause="register",
                actor="intake",
                at=moment,
                published_at=moment,
            )
            append_audit(session, [entry])


def test_prune_removes_what_the_retention_allows_and_audits_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    old_and_new_records(url)
    before = (datetime.now(UTC) - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%S")
    result = runner.invoke(
        app, ["audit", "prune", "--before", before, "--actor", "auditor", "--state-db", url]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("pruned 2 records of 1 chain recorded before ")
    assert result.output.rstrip().endswith("(retention 180 days)")
    with open_store(url, create=False) as store, store.session() as session:
        kept = history(session, "gz-tax")
        (pruned,) = history(session, AUDIT_CHAIN)
        report = verify_chains(session)
    assert len(kept) == 1
    assert (pruned.cause, pruned.actor, pruned.refused) == ("prune", "auditor", False)
    assert pruned.reason == result.output.strip()
    assert pruned.published_at is not None  # never a status event
    assert (report.intact, report.chains, report.records) == (True, 2, 2)
    verified = runner.invoke(app, ["audit", "verify", "--state-db", url])
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--before", "yesterday"], "--before 'yesterday': not a time"),
        (["--before", "2026-12-01"], "refusing to prune records younger than the retention"),
        (["--before", "2020-01-01", "--retention-days", "90"], "--retention-days 90: the audit"),
    ],
    ids=["not-a-time", "too-recent", "retention-too-short"],
)
def test_bad_prune_options_are_named_and_nothing_is_removed(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    old_and_new_records(url)
    result = runner.invoke(app, ["audit", "prune", *arguments, "--state-db", url])
    assert result.exit_code != 0
    assert str(result.exception).startswith(message)
    with open_store(url, create=False) as store, store.session() as session:
        assert len(history(session, "gz-tax")) == 3
