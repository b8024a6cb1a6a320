"""``govmig kafka up|status|down`` as a person or a script runs it, as a subprocess.

The broker here is a separate one, on its own ports and data directory, so the
session broker the other tests share is never touched.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.devkafka import free_port_pair
from tests.fixtures.cli import govmig_process
from tests.fixtures.polling import wait_until
from tests.fixtures.ports import worker_base

REPO = Path(__file__).resolve().parents[2]
CLI_PORTS = worker_base(
    29292
)  # away from the session broker (29092) and the integration tests (29192)
TIMEOUT_S = 180.0


def _govmig(*args: str) -> subprocess.CompletedProcess[str]:
    return govmig_process("kafka", *args, timeout_s=int(TIMEOUT_S))


def _json(*args: str) -> dict[str, Any]:
    done = _govmig(*args, "--output", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _wait_until_gone(pid: int, within_s: float = 10.0) -> None:
    """Wait until ``pid`` leaves /proc; the CLI that started it has exited, so init reaps it."""
    wait_until(
        lambda: not Path(f"/proc/{pid}").exists(),
        timeout_s=within_s,
        what=f"process {pid} to leave the process table",
    )


@pytest.fixture
def where(tmp_path: Path) -> Iterator[list[str]]:
    """Options naming a broker of the test's own; it is stopped afterwards whatever happens."""
    port, controller_port = free_port_pair("127.0.0.1", CLI_PORTS)
    options = [
        "--port",
        str(port),
        "--controller-port",
        str(controller_port),
        "--data-dir",
        str(tmp_path / "kafka"),
    ]
    yield options
    _govmig("down", *options)


@pytest.mark.kafka
def test_up_status_down_round_trip(where: list[str]) -> None:
    port = int(where[1])
    assert _json("status", *where)["state"] == "stopped"

    cache = ["--cache-dir", str(REPO / ".cache" / "kafka"), "--heap", "256m"]
    started = _json("up", *where, *cache)
    assert started["state"] == "running"
    assert started["bootstrap_servers"] == f"127.0.0.1:{port}"
    assert started["reachable"] is True
    pid = started["pid"]

    again = _json("up", *where, *cache)
    assert again["pid"] == pid
    assert "already running" in again["detail"]

    table = _govmig("status", *where)
    assert table.returncode == 0
    assert "running" in table.stdout
    assert str(pid) in table.stdout

    stopped = _govmig("down", *where)
    assert stopped.returncode == 0
    assert f"stopped the broker (pid {pid})" in stopped.stdout
    _wait_until_gone(pid)
    assert _json("status", *where)["state"] == "stopped"


def test_up_on_a_taken_port_fails_with_one_clear_line(where: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", int(where[1])))
        holder.listen()
        done = _govmig("up", *where)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"error: port {where[1]} on 127.0.0.1 is taken by another process: stop it or pass --port"
    )
