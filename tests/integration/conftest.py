"""A real PostgreSQL for the integration tests: a throwaway cluster, or the one you name.

``GOVMIG_TEST_POSTGRES_URL`` (``postgresql+psycopg://user@host:port/db``) points at an
existing server, whose user may create databases. Otherwise Debian's server
binaries (``apt-get install postgresql``; ``scripts/system-deps.sh`` does it) run
a fresh cluster in a temporary directory on loopback, stopped at the end of the
session. As root the cluster runs as the ``postgres`` user, since PostgreSQL
refuses to run as root. If the server cannot start, the tests fail with the
reason; they never skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

POSTGRES_URL_ENV = "GOVMIG_TEST_POSTGRES_URL"
_SERVER_USER = "postgres"  # who runs the server when the tests run as root
_DB_USER = "govmig"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (``postgresql+psycopg://...``) of a database on a real PostgreSQL, for the session."""
    given = os.environ.get(POSTGRES_URL_ENV)
    if given:
        yield given
        return
    with _throwaway_cluster() as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """URL of a new, empty database for this test only; dropped afterwards."""
    name = f"govmig_test_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with _admin(postgres_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL as a URL libpq (psycopg) accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def _admin(url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as connection:
        yield connection


@contextlib.contextmanager
def _throwaway_cluster() -> Iterator[str]:
    bin_dir = _server_binaries()
    root = Path(tempfile.mkdtemp(prefix="govmig-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    as_server = _server_runner(root)
    port = _free_port()
    try:
        _run(as_server, bin_dir / "initdb", "-D", data, "-U", _DB_USER, "-A", "trust",
             "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-k {sockets} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(as_server, bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
             "-o", options, "start")  # fmt: skip
    except subprocess.CalledProcessError as error:
        reason = f"PostgreSQL did not start: {error}\n{error.stderr}\n{_tail(log)}"
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(reason)
    try:
        url = f"postgresql+psycopg://{_DB_USER}@127.0.0.1:{port}/postgres"
        with _admin(url) as admin:
            admin.execute("CREATE DATABASE govmig")
        yield make_url(url).set(database="govmig").render_as_string(hide_password=False)
    finally:
        subprocess.run(
            [*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


def _server_binaries() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
            "run `apt-get install postgresql` (scripts/system-deps.sh) "
            f"or set {POSTGRES_URL_ENV}"
        )
    return found[-1].parent


def _server_runner(root: Path) -> list[str]:
    """The command prefix that runs server binaries as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        shutil.chown(root, user=_SERVER_USER, group=_SERVER_USER)
        shutil.chown(root / "sockets", user=_SERVER_USER, group=_SERVER_USER)
    except LookupError:
        pytest.fail(
            f"running as root and there is no {_SERVER_USER!r} user to run PostgreSQL as: "
            f"install Debian's postgresql package or set {POSTGRES_URL_ENV}"
        )
    return ["runuser", "-u", _SERVER_USER, "--"]


def _run(prefix: list[str], *args: object) -> None:
    # cwd: the server user may not be allowed into the directory the tests run from.
    command = [*prefix, *map(str, args)]
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=tempfile.gettempdir())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return "(no server log)"
