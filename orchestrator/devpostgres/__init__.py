"""A throwaway PostgreSQL on this machine, for the tests, the benchmarks and the chaos suite.

Debian's server binaries (``apt-get install postgresql``; ``scripts/system-deps.sh``
does it) run a fresh cluster in a temporary directory on loopback, stopped and
removed when the context ends. As root the cluster runs as the ``postgres``
user, since PostgreSQL refuses to run as root. A server that cannot start is a
``ConfigurationError`` with its log's tail: nothing here ever skips.
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

from orchestrator.errors import ConfigurationError

SERVER_USER = "postgres"  # who runs the server when we run as root
DB_USER = "govmig"
DRIVER = "postgresql+psycopg"


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """A fresh cluster with an empty database ``govmig``; its SQLAlchemy URL."""
    bin_dir = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="govmig-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    as_server = _server_runner(root)
    port = _free_port()
    try:
        _run(as_server, bin_dir / "initdb", "-D", data, "-U", DB_USER, "-A", "trust",
             "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-k {sockets} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(as_server, bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
             "-o", options, "start")  # fmt: skip
    except subprocess.CalledProcessError as error:
        reason = f"PostgreSQL did not start: {error}\n{error.stderr}\n{_tail(log)}"
        shutil.rmtree(root, ignore_errors=True)
        raise ConfigurationError(reason) from None
    try:
        server = f"{DB_USER}@127.0.0.1:{port}"
        with admin(f"{DRIVER}://{server}/postgres") as connection:
            connection.execute("CREATE DATABASE govmig")
        yield f"{DRIVER}://{server}/govmig"
    finally:
        subprocess.run(
            [*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, prefix: str = "govmig_") -> str:
    """A new, empty database on the server of ``url``; its URL."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with admin(url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)


def drop_database(url: str) -> None:
    """Drop the database ``url`` names, whoever is still connected to it."""
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with admin(url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead (a URL without a query string)."""
    return f"{url.rsplit('/', 1)[0]}/{name}"


def libpq_conninfo(url: str) -> str:
    """A SQLAlchemy URL as a URL libpq (psycopg) accepts."""
    return url.replace(f"{DRIVER}://", "postgresql://", 1)


@contextlib.contextmanager
def admin(url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to the server's ``postgres`` database, outside any transaction
    (CREATE and DROP DATABASE cannot run inside one)."""
    maintenance = libpq_conninfo(with_database(url, "postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        yield connection


def server_binaries() -> Path:
    """The newest installed server's ``bin`` directory."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise ConfigurationError(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
            "run `apt-get install postgresql` (scripts/system-deps.sh)"
        )
    return found[-1].parent


def _server_runner(root: Path) -> list[str]:
    """The command prefix that runs server binaries as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        shutil.chown(root, user=SERVER_USER, group=SERVER_USER)
        shutil.chown(root / "sockets", user=SERVER_USER, group=SERVER_USER)
    except LookupError:
        raise ConfigurationError(
            f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as: "
            "install Debian's postgresql package"
        ) from None
    return ["runuser", "-u", SERVER_USER, "--"]


def _run(prefix: list[str], *args: object) -> None:
    # cwd: the server user may not be allowed into the directory we run from.
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
