"""``govmig audit export`` and ``govmig audit verify --file``: an export re-verified offline.

``govmig`` runs through its entry point (``tests.fixtures.cli``) against a SQLite store seeded
through the engine; the export is then tampered with in the file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.migrations import RequestRetry, SystemState
from orchestrator.store import open_store
from orchestrator.store.export import EXPORT_FIELDS
from tests.fixtures.cli import govmig
from tests.fixtures.seeding import drive, refuse
from tests.fixtures.systems import business_system


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """gz-tax with three audit records, sz-water with two."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url) as store, store.transaction() as session:
        for system_id, refusals in (("gz-tax", 2), ("sz-water", 1)):
            drive(session, business_system(system_id), SystemState.REGISTERED)
            for _ in range(refusals):
                refuse(session, system_id, RequestRetry(requested_by="bob"))
    return url


def verify_file(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """The exit status of verifying ``path`` offline, and the broken chains it reports."""
    result = govmig("audit", "verify", "--file", str(path), "-o", "json", cwd=path.parent)
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert document["chains"] == 2
    return result.returncode, document["broken"]


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_an_export_verifies_offline_and_shows_tampering(
    state_db: str, tmp_path: Path, form: str
) -> None:
    path = tmp_path / f"audit.{form}"
    result = govmig(
        "audit", "export", "--state-db", state_db, "--format", form, "--out", str(path),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = path.read_text().splitlines()
    body = lines if form == "jsonl" else lines[1:]
    assert len(body) == 5
    assert verify_file(path) == (0, [])
    text = govmig("audit", "verify", "--file", str(path), cwd=tmp_path)
    assert (text.returncode, text.stdout) == (0, "audit intact: 2 chains, 5 records\n")
    # gz-tax's records, oldest first by id as in the file.
    records = [parse(line, form) for line in body]
    gz = [r["id"] for r in records if r["system_id"] == "gz-tax"]
    head = lines[: len(lines) - len(body)]
    # One field altered: reported as content at that record.
    altered = [dict(r, reason="edited") if r["id"] == gz[1] else r for r in records]
    code, broken = verify_file(write(tmp_path / f"altered.{form}", head, altered, form))
    assert code == 1
    assert [(b["record_id"], b["problem"]) for b in broken] == [(gz[1], "content")]
    # gz-tax's middle record deleted: its successor no longer links.
    cut = [r for r in records if r["id"] != gz[1]]
    code, broken = verify_file(write(tmp_path / f"cut.{form}", head, cut, form))
    assert code == 1
    assert [(b["record_id"], b["problem"]) for b in broken] == [(gz[2], "link")]


def parse(line: str, form: str) -> dict[str, Any]:
    if form == "jsonl":
        return dict(json.loads(line))
    record = dict(zip(EXPORT_FIELDS, next(csv.reader([line])), strict=True))
    return {**record, "id": int(record["id"])}


def write(path: Path, head: list[str], records: list[dict[str, Any]], form: str) -> Path:
    if form == "jsonl":
        lines = [json.dumps(record) for record in records]
    else:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(list(r.values()) for r in records)
        lines = out.getvalue().splitlines()
    path.write_text("\n".join(head + lines) + "\n")
    return path


def test_export_filters_by_system_and_time(state_db: str, tmp_path: Path) -> None:
    result = govmig("audit", "export", "--state-db", state_db, "--system", "sz-water", cwd=tmp_path)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["system_id"] for r in records] == ["sz-water", "sz-water"]
    assert records[0]["at_utc"].endswith("Z")
    assert records[0]["at_shanghai"].endswith("+08:00")
    assert [r["result"] for r in records] == ["applied", "refused"]
    future = govmig(
        "audit", "export", "--state-db", state_db, "--since", "2999-01-01T00:00", cwd=tmp_path
    )
    assert (future.returncode, future.stdout) == (0, "")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--since", "yesterday"],
            "error: --since 'yesterday': not a time; write it as 2027-01-09T01:00 (ISO 8601, "
            "with or without an offset such as +08:00)",
        ),
        (
            ["--since", "2027-01-02", "--until", "2027-01-01"],
            "error: --since 2027-01-02 is after --until 2027-01-01",
        ),
        (["--format", "xml"], "error: --format 'xml': use jsonl or csv"),
    ],
)
def test_bad_export_input_is_one_line_and_exit_2(
    state_db: str, tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = govmig("audit", "export", "--state-db", state_db, *arguments, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


def test_a_malformed_export_file_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{nope\n")
    result = govmig("audit", "verify", "--file", str(path), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"error: {path}: line 1: not a JSON object\n")
