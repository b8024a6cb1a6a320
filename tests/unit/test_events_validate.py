"""Offline validation of event files, and the ``events`` command group that prints it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli.events import app
from orchestrator.events import KnownIds
from orchestrator.events.validate import Problem, check_content, check_file
from orchestrator.inventory.loader import load_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "events" / "examples"
REQUESTED = (EXAMPLES / "gov.cloud.migration.requested.json").read_text("utf-8")
GOOD_LINE = json.dumps(json.loads(REQUESTED), ensure_ascii=False).encode()


def lines(*parts: bytes) -> bytes:
    return b"\n".join(parts) + b"\n"


CONTENT_CASES = [
    ("one good document", REQUESTED.encode(), False, 1, []),
    ("empty document", b"", False, 1, [(1, "empty")]),
    ("document syntax error on line 3", b'{\n  "a": 1,\n  oops\n}', False, 1, [(3, "not_json")]),
    ("document is a list", b"[]", False, 1, [(1, "not_object")]),
    ("good lines", lines(GOOD_LINE, GOOD_LINE), True, 2, []),
    ("blank lines skipped", lines(b"", GOOD_LINE, b"   ", GOOD_LINE), True, 2, []),
    ("crlf lines", GOOD_LINE + b"\r\n" + GOOD_LINE + b"\r\n", True, 2, []),
    (
        "problems keep their line numbers",
        lines(GOOD_LINE, b"{", GOOD_LINE.replace(b'"wave": 1', b'"wave": 0'), b'"x"'),
        True,
        4,
        [(2, "not_json"), (3, "schema"), (4, "not_object")],
    ),
    (
        "a pretty document read as lines",
        REQUESTED.encode(),
        True,
        len(REQUESTED.splitlines()),
        [(number, "not_json") for number in range(1, len(REQUESTED.splitlines()) + 1)],
    ),
]


@pytest.mark.parametrize(
    ("content", "json_lines", "events", "expected"),
    [case[1:] for case in CONTENT_CASES],
    ids=[case[0] for case in CONTENT_CASES],
)
def test_check_content_reports_each_problem_at_its_line(
    content: bytes, json_lines: bool, events: int, expected: list[tuple[int, str]]
) -> None:
    report = check_content("f", content, json_lines=json_lines)
    assert report.events == events
    assert [(p.line, p.code) for p in report.problems] == expected


def test_problems_print_as_file_line_code_message() -> None:
    assert (
        str(Problem("a.json", 3, "schema", "data.vcpu: bad")) == "a.json:3: schema: data.vcpu: bad"
    )


def test_a_hostile_file_name_is_escaped() -> None:
    report = check_content("evil\x1b[2J.json", b"", json_lines=False)
    assert report.problems[0].name == "evil\\x1b[2J.json"


def test_check_file_reads_json_lines_by_suffix(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(lines(GOOD_LINE, b"nope"))
    report = check_file(feed)
    assert (report.events, [p.line for p in report.problems]) == (2, [2])
    assert check_file(tmp_path / "feed.jsonl", max_bytes=10).problems[0].code == "too_large"


def test_cli_validate_passes_the_examples() -> None:
    files = sorted(str(path) for path in EXAMPLES.glob("*.json"))
    result = CliRunner().invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{len(files)} events OK ({len(files)} files)\n"


def test_cli_validate_prints_one_line_per_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        lines(
            GOOD_LINE,
            b"{}",
            GOOD_LINE.replace(b'"system_id": "shantou-bdcdj"', b'"system_id": "Bad Id"'),
        )
    )
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:2: missing_attribute: specversion is required",
        f"{bad}:3: schema: data.system_id: must be a system id: lowercase letters, digits and "
        "inner hyphens, 1-63",
        "2 problems in 3 events (1 file)",
    ]


def test_cli_validate_refuses_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_cli_reasons_lists_codes_as_json() -> None:
    result = CliRunner().invoke(app, ["reasons", "--output", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["key_mismatch"].startswith("the Kafka key")


def test_cli_validate_checks_ids_against_an_inventory(tmp_path: Path) -> None:
    inventory = EXAMPLES.parents[1] / "inventory"
    moved = tmp_path / "moved.json"
    moved.write_text(REQUESTED.replace('"target_node": "shantou"', '"target_node": "guangzhou"'))
    result = CliRunner().invoke(app, ["validate", "--inventory", str(inventory), str(moved)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{moved}:1: unknown_node: node 'guangzhou' is not one of")
    plain = CliRunner().invoke(app, ["validate", str(moved)])
    assert plain.exit_code == 0, "without an inventory only the form is checked"


def test_the_examples_name_real_cities_and_nodes() -> None:
    inventory = load_inventory()
    known = KnownIds.of(inventory)
    for path in EXAMPLES.glob("*.json"):
        assert check_file(path, known=known).problems == ()
