"""``govmig calendar``: a good file, a bad one, none; and the rows it prints, on a fixed clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from orchestrator.cli import build_app
from orchestrator.cli.calendar import NOT_RESTRICTED, calendar_rows, waiting_for_windows
from orchestrator.errors import InventoryError
from orchestrator.inventory.calendar import Span
from orchestrator.inventory.loader import load_calendar, load_departments
from orchestrator.migrations import SystemState
from orchestrator.store import SystemRow

app = build_app()

runner = CliRunner()

# A window every night and a freeze around any day the test runs, so the next days show both.
EVERY_NIGHT = """\
time_zone: Asia/Shanghai
windows:
  - name: nightly
    days: [mon, tue, wed, thu, fri, sat, sun]
    start: "01:00"
    end: "05:00"
    applies_to: {departments: [psb], criticalities: [high]}
freezes:
  - {name: 重保 forever, start: 2020-01-01, end: 2099-12-31}
"""


@pytest.fixture
def calendar_file(tmp_path: Path) -> Path:
    path = tmp_path / "calendar.yml"
    path.write_text(EVERY_NIGHT, encoding="utf-8")
    return path


def test_a_good_file_lists_windows_and_freezes_in_its_zone(calendar_file: Path) -> None:
    result = runner.invoke(app, ["calendar", "--calendar", str(calendar_file), "-o", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["calendar"], document["time_zone"]) == (str(calendar_file), "Asia/Shanghai")
    assert document["restricts_to_windows"] is True
    kinds = [(entry["kind"], entry["name"]) for entry in document["entries"]]
    assert kinds[0] == ("freeze", "重保 forever")
    assert set(kinds[1:]) == {("window", "nightly")}
    assert len(kinds) in {15, 16}  # 14 days from now hold 14 or 15 openings, by the hour
    night = document["entries"][1]
    assert night["opens_local"].endswith("T01:00:00+08:00")
    assert night["opens_at"].endswith("T17:00:00Z")
    assert night["applies_to"] == {"departments": ["psb"], "criticalities": ["high"]}


def test_the_table_names_the_zone_and_reads_the_environment(calendar_file: Path) -> None:
    result = runner.invoke(
        app,
        ["calendar", "--days", "3"],
        env={"GOVMIG_CALENDAR": str(calendar_file), "COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "times in Asia/Shanghai, UTC+08:00" in result.stdout
    assert "nightly" in result.stdout
    assert "departments psb; criticalities high" in result.stdout


def test_a_bad_file_raises_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yml"
    path.write_text(
        "time_zone: Asia/Shangai\n"
        "windows:\n"
        "  - {name: w, days: [sat], start: '06:00', end: '01:00', applies_to: {departments: [x]}}\n"
    )
    result = runner.invoke(app, ["calendar", "--calendar", str(path)])
    assert isinstance(result.exception, InventoryError), result.output
    assert str(result.exception).splitlines() == [
        f"{path}: field 'time_zone': unknown time zone 'Asia/Shangai' (an IANA name such as "
        "'Asia/Shanghai')",
        f"{path}: window 'w': field 'applies_to.departments[0]': unknown department 'x' "
        f"(not in {load_departments().source})",
        f"{path}: window 'w': field 'end': inverted window: end 01:00 is before start 06:00 "
        "(set ends_next_day: true for a window that crosses midnight)",
    ]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calendar", "--calendar", str(tmp_path / "nope.yml")])
    assert isinstance(result.exception, InventoryError), result.output
    assert str(result.exception) == f"{tmp_path / 'nope.yml'}: file not found"


def test_without_a_file_cutovers_are_not_restricted() -> None:
    result = runner.invoke(app, ["calendar"], env={"GOVMIG_CALENDAR": None})
    assert (result.exit_code, result.stdout) == (0, NOT_RESTRICTED + "\n")
    result = runner.invoke(app, ["calendar", "-o", "json"], env={"GOVMIG_CALENDAR": None})
    document = json.loads(result.stdout)
    assert (document["calendar"], document["restricts_to_windows"], document["entries"]) == (
        None,
        False,
        [],
    )


@pytest.mark.parametrize("days", ["0", "367", "two"])
def test_days_out_of_range_is_refused(calendar_file: Path, days: str) -> None:
    result = runner.invoke(app, ["calendar", "--calendar", str(calendar_file), "--days", days])
    assert result.exit_code == 2
    assert "Invalid value for '--days'" in result.output


def test_rows_on_a_fixed_clock_put_the_waiting_systems_on_a_windows_next_occurrence(
    calendar_file: Path,
) -> None:
    calendar = load_calendar(calendar_file, load_departments())
    now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # Wednesday 12:00 in Shanghai
    opens = datetime(2026, 12, 3, 1, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    span = Span("nightly", opens, opens + timedelta(hours=4))
    rows = calendar_rows(calendar, now, days=2, waiting=[("b-sys", span), ("a-sys", span)])
    assert [(row["name"], row["opens_local"], row["waiting"]) for row in rows] == [
        ("重保 forever", "2020-01-01T00:00:00+08:00", []),
        ("nightly", "2026-12-03T01:00:00+08:00", ["a-sys", "b-sys"]),
        ("nightly", "2026-12-04T01:00:00+08:00", []),
    ]
    assert rows[1]["closes_at"] == "2026-12-02T21:00:00Z"


def test_waiting_systems_go_on_the_window_the_calendar_opens_for_each_next(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yml"
    path.write_text(
        """\
time_zone: Asia/Shanghai
windows:
  - {name: weekend, days: [sat], start: "00:00", end: "06:00",
     applies_to: {criticalities: [high]}}
  - {name: weeknight, days: [thu], start: "22:00", end: "23:00",
     applies_to: {criticalities: [low]}}
freezes:
  - {name: drill, start: "2026-12-03 00:00", end: "2026-12-04 00:00",
     applies_to: {criticalities: [low]}}
""",
        encoding="utf-8",
    )
    calendar = load_calendar(path, load_departments())
    now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # Wednesday 12:00 in Shanghai

    def ready(system_id: str, criticality: str) -> SystemRow:
        record = {"department": "Finance Bureau (财政局)", "criticality": criticality}
        return SystemRow(
            system_id, record, "shantou", SystemState.READY, "shantou", None, None, None, None,
            now, 1, waiting_reason="window",
        )  # fmt: skip

    held = [ready("high-1", "high"), ready("low-1", "low"), ready("high-2", "high")]
    # The low one's Thursday window is frozen this week: it waits for the next Thursday's.
    waiting = waiting_for_windows(calendar, held, now)
    assert [(system_id, span.window) for system_id, span in waiting] == [
        ("high-1", "weekend"),
        ("low-1", "weeknight"),
        ("high-2", "weekend"),
    ]
    rows = calendar_rows(calendar, now, days=9, waiting=waiting)
    assert [(row["name"], row["opens_local"][:10], row["waiting"]) for row in rows] == [
        ("drill", "2026-12-03", []),
        ("weeknight", "2026-12-03", []),
        ("weekend", "2026-12-05", ["high-1", "high-2"]),
        ("weeknight", "2026-12-10", ["low-1"]),
    ]
