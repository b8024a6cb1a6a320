"""``govmig audit verify`` as an operator runs it: exit 0 and a summary, or exit 1 and the break.

``govmig`` runs through its entry point (``tests.fixtures.cli``)
against a SQLite state database seeded through the engine, then tampered with
straight in the database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.migrations import RequestRetry, SystemState
from orchestrator.store import open_store
from tests.fixtures.cli import govmig
from tests.fixtures.seeding import drive, refuse
from tests.fixtures.systems import business_system

SYSTEMS = ("gz-tax", "sz-water")


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """Two systems registered, each with a refused retry: two chains of two records."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url) as store, store.transaction() as session:
        for system_id in SYSTEMS:
            drive(session, business_system(system_id), SystemState.REGISTERED)
            refuse(session, system_id, RequestRetry(requested_by="bob"))
    return url


def alter_first_record(url: str) -> int:
    with open_store(url) as store, store.engine.begin() as connection:
        first = connection.execute(text("SELECT min(id) FROM transitions")).scalar_one()
        connection.execute(
            text("UPDATE transitions SET reason = 'nothing to see' WHERE id = :id"), {"id": first}
        )
    return int(first)


def test_an_intact_audit_exits_0_with_a_summary(state_db: str, tmp_path: Path) -> None:
    result = govmig("audit", "verify", "--state-db", state_db, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "audit intact: 2 chains, 4 records\n")
    result = govmig("audit", "verify", "--state-db", state_db, "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"intact": True, "chains": 2, "records": 4, "broken": []}


def test_a_tampered_audit_exits_1_naming_the_record(state_db: str, tmp_path: Path) -> None:
    altered = alter_first_record(state_db)
    result = govmig("audit", "verify", "--state-db", state_db, "--output", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert (document["intact"], document["chains"], document["records"]) == (False, 2, 4)
    (broken,) = document["broken"]
    assert (broken["system_id"], broken["record_id"], broken["problem"]) == (
        "gz-tax",
        altered,
        "content",
    )
    assert len(broken["expected"]) == len(broken["found"]) == 64
    table = govmig("audit", "verify", "--state-db", state_db, cwd=tmp_path)
    assert table.returncode == 1
    assert "audit broken: 1 of 2 chains, 4 records" in table.stdout
    assert broken["found"] in table.stdout
    # The other system's chain alone still verifies.
    other = govmig("audit", "verify", "--state-db", state_db, "--system", "sz-water", cwd=tmp_path)
    assert (other.returncode, other.stdout) == (0, "audit intact: 1 chain, 2 records\n")


def test_a_missing_database_or_system_is_a_clear_error(state_db: str, tmp_path: Path) -> None:
    missing = govmig(
        "audit", "verify", "--state-db", f"sqlite:///{tmp_path / 'no.db'}", cwd=tmp_path
    )
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    assert missing.stdout == ""
    unknown = govmig("audit", "verify", "--state-db", state_db, "--system", "nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no audit chain for system 'nope'" in unknown.stderr
