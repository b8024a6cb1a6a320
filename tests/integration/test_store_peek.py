"""``store.peek`` on a real PostgreSQL: the ids completion suggests, in a read-only transaction.

SQLite's cases are in ``tests/unit/test_cli_completion.py``.
"""

from __future__ import annotations

import pytest

from orchestrator.migrations import SystemState
from orchestrator.store import open_store, stored_system_ids
from tests.fixtures.seeding import drive
from tests.fixtures.systems import business_system

pytestmark = pytest.mark.postgres


def test_ids_with_a_prefix_come_from_postgresql(fresh_postgres_url: str) -> None:
    with open_store(fresh_postgres_url) as store, store.transaction() as session:
        for system_id in ("shantou-psb-001", "shantou-psb-002", "shaoguan-edu-001"):
            record = business_system(system_id, city=system_id.split("-")[0])
            drive(session, record, SystemState.REGISTERED)
    assert stored_system_ids(fresh_postgres_url, "shantou") == [
        "shantou-psb-001",
        "shantou-psb-002",
    ]
    assert stored_system_ids(fresh_postgres_url, "sh", limit=1) == ["shantou-psb-001"]


def test_a_database_without_the_schema_gives_nothing(fresh_postgres_url: str) -> None:
    assert stored_system_ids(fresh_postgres_url, "") == []
