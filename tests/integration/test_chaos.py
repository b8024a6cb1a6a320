"""The short chaos suite (``python -m chaos --short``): every scenario, a few faults each.

It runs as ``make chaos`` would, in its own process with its own broker,
PostgreSQL and lab, and asserts on the figures it prints as JSON: every
scenario ran and injected a fault, nothing was lost, nothing cut over twice,
the ledger did not drift. It replaces the former kill -9 during cutover tests
on ``local`` and on the lab, which its ``kill9-local`` and ``kill9-lab`` prove.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos.scenarios import SCENARIOS

pytestmark = [
    pytest.mark.lab,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.ansible,
    pytest.mark.timeout(900),
]

REPO = Path(__file__).resolve().parents[2]


def run_short_suite() -> tuple[int, list[dict[str, Any]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "chaos", "--short", "--json"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    rows = json.loads(done.stdout) if done.stdout.strip().startswith("[") else []
    return done.returncode, rows, done.stderr[-6000:]


def test_the_short_chaos_suite_loses_nothing_and_cuts_over_once() -> None:
    code, rows, errors = run_short_suite()
    by_name = {row["scenario"]: row for row in rows}
    assert set(by_name) == {s.name for s in SCENARIOS if s.short}, errors
    for name, row in by_name.items():
        assert row["ran"], f"{name} did not run: {row['notes']}"
        assert row["error"] is None, f"{name}: {row['error']}\n{errors}"
        assert row["faults"] >= 1, f"{name} injected no fault"
        assert (row["lost"], row["double_cutovers"], row["ledger_drift"]) == (0, 0, 0), row
        assert row["completed"] == row["expected_completed"], row
    assert code == 0, errors
