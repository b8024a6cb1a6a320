"""``govmig events`` as a producer runs it: its entry point (``tests.fixtures.cli``), real
files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.fixtures.cli import govmig as run_govmig

EXAMPLES = Path(__file__).resolve().parents[2] / "events" / "examples"


def govmig(*args: str) -> subprocess.CompletedProcess[str]:
    return run_govmig("events", *args)


def test_the_published_examples_validate() -> None:
    files = sorted(str(path) for path in EXAMPLES.glob("*.json"))
    result = govmig("validate", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"{len(files)} events OK ({len(files)} files)\n"


def test_a_feed_with_problems_gets_one_line_each_and_exit_1(tmp_path: Path) -> None:
    example = json.loads((EXAMPLES / "gov.cloud.migration.requested.json").read_text("utf-8"))
    good = json.dumps(example, ensure_ascii=False)
    oversized = json.dumps({**example, "data": {**example["data"], "requested_by": "x" * 1200}})
    hostile = good.replace('"ops.zhangwei"', '"ops\\u001b[2J$(reboot)"')
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join([good, "not json", hostile, "", oversized]) + "\n", "utf-8")
    single = tmp_path / "one.json"
    single.write_text(good.replace('"1.0"', '"0.3"'), "utf-8")

    result = govmig("validate", "--max-bytes", "1024", str(feed), str(single))

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0:2] for line in lines[:-1]] == [
        [f"{feed}:2", "not_json"],
        [f"{feed}:3", "schema"],
        [f"{feed}:5", "too_large"],
        [f"{single}:1", "bad_specversion"],
    ]
    assert "\x1b" not in result.stdout
    assert lines[-1] == "4 problems in 5 events (2 files)"


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = govmig("validate", str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert "absent.json" in result.stderr


def test_reasons_lists_every_code_as_json() -> None:
    result = govmig("reasons", "--output", "json")
    assert result.returncode == 0, result.stderr
    codes = json.loads(result.stdout)
    assert {"not_json", "schema", "key_mismatch", "duplicate"} <= set(codes)
