"""How long ``govmig plan`` takes to place 10,000 systems: the placement alone, and the command.

``time_placement`` times ``plan_placements`` (the code the orchestrator
places with) on 10,000 generated systems and the 14 empty nodes, best of a
few runs. ``time_plan_command`` runs ``govmig plan FILE --output json`` as a
subprocess on the same systems written as a CSV, so the figure includes the
interpreter's start, imports, reading and validating the file and writing
the JSON. It is pointed at a state database that does not exist, so it plans
from empty nodes as a fresh installation would. 10,000 generated systems ask
for more than the plan's total capacity: some do not fit, and that is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.intake_kafka import REPO
from orchestrator.capacity import (
    PlacementPolicy,
    SystemRequest,
    empty_usage,
    node_state,
    plan_placements,
)
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.inventory.csvrows import systems_to_csv

GOVMIG = Path(sys.executable).with_name("govmig")
COMMAND_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class PlacementTiming:
    """Seconds for ``systems`` systems, and how many found a node."""

    systems: int
    seconds: float
    placed: int


def time_placement(count: int, *, repeat: int) -> PlacementTiming:
    """``plan_placements`` on ``count`` generated systems from empty nodes, best of ``repeat``."""
    requests = [SystemRequest.from_model(system) for system in generate_catalogue(count)]
    nodes = load_inventory().nodes.values()
    best, placed = float("inf"), 0
    for _round in range(repeat):
        usage = {node.id: empty_usage(node_state(node)) for node in nodes}
        started = time.perf_counter()
        result = plan_placements(requests, usage, PlacementPolicy())
        best = min(best, time.perf_counter() - started)
        placed = len(result.placements)
    return PlacementTiming(count, best, placed)


def time_plan_command(count: int, *, repeat: int) -> PlacementTiming:
    """``govmig plan FILE --output json`` on ``count`` systems as a CSV, best of ``repeat``."""
    with tempfile.TemporaryDirectory(prefix="govmig-bench-plan-") as workdir:
        csv_file = Path(workdir) / "systems.csv"
        csv_file.write_text(systems_to_csv(generate_catalogue(count)), encoding="utf-8")
        command = [
            str(GOVMIG), "plan", str(csv_file), "--output", "json",
            "--state-db", f"sqlite:///{Path(workdir) / 'absent.db'}",
        ]  # fmt: skip
        best, placed = float("inf"), 0
        for _round in range(repeat):
            started = time.perf_counter()
            done = subprocess.run(
                command, cwd=REPO, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
            took = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"govmig plan failed ({done.returncode}): {done.stderr!r}")
            best = min(best, took)
            placed = len(json.loads(done.stdout)["placements"])
    return PlacementTiming(count, best, placed)
