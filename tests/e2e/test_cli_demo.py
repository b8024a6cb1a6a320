"""``govmig demo --exit`` as a user runs it: the README's main command, end to end.

A smaller wave than the default (one system per node) with one injected
failure, so the run shows a rollback too and stays around a minute.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.devkafka import free_port_pair
from orchestrator.providers.local_sandbox import fetch_health, read_name_record

pytestmark = [pytest.mark.kafka, pytest.mark.ansible]

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_migrates_a_wave_rolls_back_the_injected_failure_and_stops_everything(
    tmp_path: Path,
) -> None:
    home = tmp_path / "demo"
    kafka_port, _ = free_port_pair("127.0.0.1", 39500)
    command = [
        sys.executable, "-m", "orchestrator", "demo", "--exit",
        "--per-node", "1", "--fail", "1",
        "--home", str(home),
        "--kafka-port", str(kafka_port),
        "--metrics-port", str(_free_port()),
        "--timeout", "600",
    ]  # fmt: skip
    env = {**os.environ, "GOVMIG_LOCAL_KAFKA_CACHE_DIR": str(REPO / ".cache" / "kafka")}

    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "migrated: 13   rolled back: 1   failed: 0" in output
    assert "wave 1: 14/14 systems finished" in output
    # Everything it started is stopped: no broker, no orchestrator, no sample service.
    leftovers = subprocess.run(
        ["pgrep", "-f", str(home)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert leftovers == []
    # The sandbox remains to be inspected: a migrated service's name record points at its node.
    records = sorted((home / "work" / "dns").glob("*.json"))
    assert len(records) == 14
    moved = [read_name_record(home / "work", path.stem) for path in records]
    assert sum(record.location != "source" for record in moved) == 13
    with pytest.raises(OSError):
        fetch_health(moved[0], timeout=1.0)  # stopped with the demo
