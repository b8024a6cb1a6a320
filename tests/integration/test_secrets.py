"""No configured secret is ever written: ``govmig run`` at DEBUG, each secret a marker.

The SASL password and the SSL key password (kafka-python's admin client logs
its whole configuration at DEBUG) and the database password in the state
URL are set to marker values; ``govmig run`` takes a batch through intake on
PostgreSQL, then a second run fails to reach its broker. Nothing either run
wrote, no status event, no audit row and no ``--help`` holds a marker's
bytes. (The SSH key and the TSIG secret are searched for in every log and
runner artifact of the lab's runs by ``test_ssh_provider``.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import make_url

from orchestrator.bus.reader import read_topic
from orchestrator.inventory import generate_catalogue
from tests.fixtures.orchestrator import (
    count_rows,
    govmig_run,
    kafka_settings,
    read_fleet,
    register_and_request,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SASL = "sasl-marker-7f3a9c2e"
SSL_KEY = "sslkey-marker-51be0d4a"
DATABASE = "dbpass-marker-c0ffee17"
MARKERS = (SASL, SSL_KEY, DATABASE)
SECRET_ENV = {
    # Carried in the client's configuration (and so in its DEBUG line), unused on PLAINTEXT.
    "GOVMIG_SASL_MECHANISM": "PLAIN",
    "GOVMIG_SASL_PLAIN_USERNAME": "govmig",
    "GOVMIG_SASL_PLAIN_PASSWORD": SASL,
    "GOVMIG_SSL_PASSWORD": SSL_KEY,
}
PLACED = "SELECT count(*) FROM systems WHERE state = 'placed'"


def assert_no_marker(where: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for marker in MARKERS:
        assert marker.encode() not in data, f"{where} holds a secret: {marker}"


def test_no_secret_reaches_a_log_an_event_the_audit_or_help_at_debug(
    kafka_bootstrap: str,
    new_topic: Callable[..., str],
    fresh_postgres_url: str,
    tmp_path: Path,
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    state_db = make_url(fresh_postgres_url).set(password=DATABASE)
    url = state_db.render_as_string(hide_password=False)
    systems = generate_catalogue(20)
    register_and_request(settings, systems)
    options = ("--log-level", "DEBUG")
    with govmig_run(settings, url, tmp_path, *options, env=SECRET_ENV) as run:
        wait_until(lambda: count_rows(url, PLACED) == len(systems), timeout_s=90, what="placed")
        run.signal(signal.SIGTERM)
        assert run.wait(30) == 0, run.output()
    written = run.written()
    assert "Starting KafkaAdminClient with configuration" in written, "DEBUG reached kafka-python"
    assert "sasl_plain_password" in written
    assert_no_marker("the run's log", written)
    for record in read_topic(settings, settings.status_topic):
        assert_no_marker("a status event", record.value or b"")
    for rows in read_fleet(url).audit.values():
        assert_no_marker("the audit", repr(rows))

    unreachable = {**SECRET_ENV, "GOVMIG_REQUEST_TIMEOUT_S": "1"}
    failed = govmig(tmp_path, url, unreachable, "--bootstrap-servers", "127.0.0.1:1")
    assert failed.returncode == 2, failed.stderr
    assert "cannot reach Kafka" in failed.stderr
    assert_no_marker("a failed run's output", failed.stdout + failed.stderr)
    helped = govmig(tmp_path, url, SECRET_ENV, "--help")
    assert helped.returncode == 0, helped.stderr
    assert_no_marker("--help", helped.stdout + helped.stderr)


def govmig(
    workdir: Path, state_db: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``govmig run`` at DEBUG with ``args``, to its end."""
    command = [
        sys.executable, "-m", "orchestrator.cli.run",
        "--state-db", state_db, "--metrics-port", "0", "--log-level", "DEBUG", *args,
    ]  # fmt: skip
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=workdir,
        timeout=60,
        check=False,
    )
