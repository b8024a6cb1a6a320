"""Secrets are never written: registered values and secret assignments are masked everywhere."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from orchestrator import redaction
from orchestrator.observability import configure_logging
from orchestrator.redaction import redact, register
from orchestrator.settings import KafkaSettings, StoreSettings, database_password

PEM = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBvbmx5LWEtdGVzdC1rZXktbm90LWEtcmVhbC1vbmUtYXQtYWxsAAAAiA==
-----END OPENSSH PRIVATE KEY-----
"""


@pytest.fixture(autouse=True)
def nothing_registered() -> Iterator[None]:
    redaction.forget_all()
    yield
    redaction.forget_all()


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("nothing here", {"govmig_secret_a": "s3cr3t"}, "nothing here"),
        (
            "got s3cr3t twice: s3cr3t",
            {"govmig_secret_a": "s3cr3t"},
            "got <redacted:govmig_secret_a> twice: <redacted:govmig_secret_a>",
        ),
        (
            "abc and abcdef",
            {"govmig_secret_short": "abc", "govmig_secret_long": "abcdef"},
            "<redacted:govmig_secret_short> and <redacted:govmig_secret_long>",
        ),
        ("govmig_secret_x=leaked rest", {}, "govmig_secret_x=<redacted> rest"),
        ('{"govmig_secret_x": "leaked", "n": 1}', {}, '{"govmig_secret_x": "<redacted>", "n": 1}'),
        ("govmig_secret_x: 'leaked'", {}, "govmig_secret_x: '<redacted>'"),
        (
            "an empty secret changes nothing",
            {"govmig_secret_e": ""},
            "an empty secret changes nothing",
        ),
    ],
    ids=["absent", "repeated", "longest-first", "assignment", "json", "yaml", "empty"],
)
def test_redact(text: str, secrets: dict[str, str], expected: str) -> None:
    assert redact(text, secrets) == expected


def test_a_registered_secret_is_masked_without_being_passed() -> None:
    register("sasl_plain_password", "hunter2-marker")
    assert redact("config: {'sasl_plain_password': 'hunter2-marker'}") == (
        "config: {'sasl_plain_password': '<redacted:sasl_plain_password>'}"
    )


def test_each_line_of_a_key_is_masked_but_not_its_armour() -> None:
    register("govmig_secret_ssh_private_key", PEM)
    second_line = PEM.splitlines()[2]
    assert redact(f"a fragment: {second_line}") == (
        "a fragment: <redacted:govmig_secret_ssh_private_key>"
    )
    assert "BEGIN OPENSSH PRIVATE KEY" in redact(PEM.splitlines()[0])
    assert PEM.splitlines()[1] not in redact(PEM)


def test_a_value_too_short_to_mean_anything_is_not_registered() -> None:
    register("password", "abc")
    register("nothing", None)
    assert redact("abc abcdef") == "abc abcdef"


def test_every_log_line_is_redacted_whichever_library_writes_it() -> None:
    register("sasl_plain_password", "hunter2-marker")
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        logging.getLogger("kafka.admin.client").debug("config %s", {"pw": "hunter2-marker"})
        try:
            raise RuntimeError("login failed with hunter2-marker")
        except RuntimeError:
            logging.getLogger("orchestrator").exception("failed")
        configure_logging("DEBUG", json=True, stream=stream)
        logging.getLogger("kafka").info("again hunter2-marker", extra={"field": "hunter2-marker"})
    finally:
        configure_logging("WARNING")
    written = stream.getvalue()
    assert "hunter2-marker" not in written
    masked = "<redacted:sasl_plain_password>"
    assert f"config {{'pw': '{masked}'}}" in written
    assert f"RuntimeError: login failed with {masked}" in written  # the traceback too
    assert f'"message": "again {masked}", "field": "{masked}"' in written


def test_settings_register_their_secrets_as_they_are_read() -> None:
    KafkaSettings(sasl_plain_password="sasl-secret-1", ssl_password="ssl-secret-2")
    StoreSettings(state_db="postgresql+psycopg://govmig:db%40secret-3@db.example:5432/govmig")
    assert redact("sasl-secret-1 ssl-secret-2 db@secret-3") == (
        "<redacted:sasl_plain_password> <redacted:ssl_password> <redacted:state_db_password>"
    )


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql+psycopg://u:p%2Fq@h/db", "p/q"),
        ("postgresql+psycopg://u@h/db", None),
        ("sqlite:///var/govmig.db", None),
        ("postgresql://u:p@[::1/db", None),
    ],
    ids=["quoted", "no-password", "sqlite", "malformed"],
)
def test_the_database_password_is_read_from_its_url(url: str, password: str | None) -> None:
    assert database_password(url) == password
