"""A real PostgreSQL for the integration tests: a throwaway cluster, or the one you name.

``GOVMIG_TEST_POSTGRES_URL`` (``postgresql+psycopg://user@host:port/db``) points at an
existing server, whose user may create databases. Otherwise
``orchestrator.devpostgres`` runs a fresh cluster (Debian's server binaries,
which ``scripts/system-deps.sh`` installs) for the session. If the server
cannot start, the tests fail with the reason; they never skip.

``work`` is the ``local`` provider's sandbox of a test that runs its playbooks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import devpostgres
from orchestrator.errors import ConfigurationError
from orchestrator.providers.local_sandbox import stop_services

POSTGRES_URL_ENV = "GOVMIG_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (``postgresql+psycopg://...``) of a database on a real PostgreSQL, for the session."""
    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        yield given
        return
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(devpostgres.throwaway_cluster())
        except ConfigurationError as error:
            pytest.fail(f"{error} (or set {POSTGRES_URL_ENV})")
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """URL of a new, empty database for this test only; dropped afterwards."""
    url = devpostgres.create_database(postgres_url, prefix="govmig_test_")
    yield url
    devpostgres.drop_database(url)


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """The ``local`` provider's sandbox; every service started in it is stopped at the end."""
    root = tmp_path / "work"
    root.mkdir()
    try:
        yield root
    finally:
        stop_services(root)
