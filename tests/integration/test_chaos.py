"""The short chaos suite (``python -m chaos --short``): every scenario, a few faults each.

Each scenario runs as ``make chaos`` would run it, in its own process, and the
test asserts on the figures it prints as JSON: the scenario ran and injected a
fault, nothing was lost, nothing cut over twice, the ledger did not drift.
The scenarios share the tests' broker, except the one that stops and starts
its own; each is a group of its own, so the local ones spread over the
workers while the lab's runs with the other lab tests. ``kill9-lab``
replaces the former kill -9 during cutover tests (``kill9-local``, the same on
the ``local`` provider, is in the full suite only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos.scenarios import SCENARIOS, Scenario

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.ansible]

REPO = Path(__file__).resolve().parents[2]
OWN_BROKER = {"broker-restart"}  # it stops and starts the broker it uses


def short_run(scenario: Scenario, bootstrap: str) -> tuple[int, list[dict[str, Any]], str]:
    command = [sys.executable, "-m", "chaos", "--short", "--json", "--scenario", scenario.name]
    if scenario.name not in OWN_BROKER:
        command += ["--bootstrap-servers", bootstrap]
    done = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    rows = json.loads(done.stdout) if done.stdout.strip().startswith("[") else []
    return done.returncode, rows, done.stderr[-6000:]


def _param(scenario: Scenario) -> Any:
    group = "lab" if scenario.lab else f"chaos-{scenario.name}"
    marks = [pytest.mark.xdist_group(group)] + ([pytest.mark.lab] if scenario.lab else [])
    return pytest.param(scenario, id=scenario.name, marks=marks)


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS if s.short])
def test_a_short_chaos_scenario_loses_nothing_and_cuts_over_once(
    scenario: Scenario, kafka_bootstrap: str
) -> None:
    code, rows, errors = short_run(scenario, kafka_bootstrap)
    assert len(rows) == 1, f"{scenario.name} printed no figures:\n{errors}"
    (row,) = rows
    assert row["ran"], f"{scenario.name} did not run: {row['notes']}"
    assert row["error"] is None, f"{scenario.name}: {row['error']}\n{errors}"
    assert row["faults"] >= 1, f"{scenario.name} injected no fault"
    assert (row["lost"], row["double_cutovers"], row["ledger_drift"]) == (0, 0, 0), row
    assert row["completed"] == row["expected_completed"], row
    assert code == 0, errors
