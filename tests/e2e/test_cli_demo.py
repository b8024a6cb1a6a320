"""``govmig demo --exit`` as a user runs it: the README's main command, end to end.

A smaller wave than the default (one system per node, and one Guangzhou
system onto its PRD platform, connected by the demo) with one injected
failure, so the run shows a rollback too: once with the ``local`` provider,
once with the ``ssh`` provider on the lab of real hosts (as root, which is how
``make demo`` runs it by default).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.devkafka import free_port_pair
from orchestrator.providers.local_sandbox import fetch_health, read_name_record
from tests.fixtures.polling import wait_until
from tests.fixtures.ports import worker_base

pytestmark = [pytest.mark.kafka, pytest.mark.ansible]

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_command(home: Path, provider: str) -> list[str]:
    """``govmig demo --exit`` of one system on each of 3 nodes and one on Guangzhou's platform,
    one injected failure."""
    kafka_port, _ = free_port_pair("127.0.0.1", worker_base(29500))
    return [
        sys.executable, "-m", "orchestrator", "demo", "--exit",
        "--per-node", "1", "--fail", "1", "--provider", provider,
        "--nodes", "shantou,heyuan,meizhou",
        "--home", str(home),
        "--kafka-port", str(kafka_port),
        "--metrics-port", str(_free_port()),
        "--timeout", "600",
    ]  # fmt: skip


ENV = {**os.environ, "GOVMIG_LOCAL_KAFKA_CACHE_DIR": str(REPO / ".cache" / "kafka")}


def run_demo(home: Path, provider: str) -> str:
    """The demo of ``demo_command``, to its end; its output."""
    done = subprocess.run(
        demo_command(home, provider),
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "migrated: 3   rolled back: 1   failed: 0" in output
    assert "wave 1: 4/4 systems finished" in output
    assert "moved per node: " in output
    assert "connected platform guangzhou (2001:db8:100::/48" in output
    assert "platform guangzhou: 1 system moved" in output
    # What it cost, as the provider measured it: bytes on the wire, each migrated system's downtime.
    replicated = re.search(r"replicated: ([0-9,]+) bytes", output)
    assert replicated is not None, output
    assert int(replicated.group(1).replace(",", "")) > 0
    _, header, listed = output.partition("downtime (source stopped to healthy by name), worst ")
    assert header, output
    first_line = listed.splitlines()[1]
    assert len(re.findall(r"[a-z0-9-]+ [0-9]+\.[0-9]{2} s", first_line)) == 3, output
    # Everything it started is stopped: no broker, no orchestrator, no sample service.
    # (ansible-runner's ssh-agent notices its run ended within ~10 s, by itself.)
    wait_until(
        lambda: _running_under(home) == [],
        timeout_s=30,
        what=lambda: f"the demo's processes to end: {_running_under(home)}",
    )
    return output


def _running_under(home: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-af", str(home)], capture_output=True, text=True, check=False)
    return found.stdout.splitlines()


def test_demo_migrates_a_wave_rolls_back_the_injected_failure_and_stops_everything(
    tmp_path: Path,
) -> None:
    home = tmp_path / "demo"
    output = run_demo(home, "local")
    assert "local provider on this machine (asked for)" in output
    # The sandbox remains to be inspected: a migrated service's name record points at its node.
    records = sorted((home / "work" / "dns").glob("*.json"))
    assert len(records) == 4
    moved = [read_name_record(home / "work", path.stem) for path in records]
    assert sum(record.location != "source" for record in moved) == 3
    assert "guangzhou" in {record.location for record in moved}
    with pytest.raises(OSError):
        fetch_health(moved[0], timeout=1.0)  # stopped with the demo


def test_a_demo_stopped_with_sigterm_stops_everything_it_started(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            demo_command(home, "local"), cwd=REPO, env=ENV, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until(
            lambda: any("orchestrator run" in line for line in _running_under(home)),
            timeout_s=180,
            what=lambda: f"govmig run started by the demo: {log.read_text(errors='replace')}",
        )
        started = _running_under(home)
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
    assert code == 128 + signal.SIGTERM, log.read_text(errors="replace")
    assert any("kafka.Kafka" in line for line in started), started
    wait_until(
        lambda: _running_under(home) == [],
        timeout_s=30,
        what=lambda: f"the demo's processes to end: {_running_under(home)}",
    )


@pytest.mark.lab
def test_the_demo_migrates_a_wave_between_real_hosts_and_takes_its_lab_down(
    tmp_path: Path,
) -> None:
    home = tmp_path / "demo"
    output = run_demo(home, "ssh")
    assert "ssh provider on the lab of real hosts (asked for)" in output
    assert "sources serving on the lab's source hosts" in output
    assert "connected platform guangzhou (2001:db8:100::/48, hosts guangzhou-1)" in output
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert "govmig-" not in namespaces.stdout, "the demo's lab is down"
    assert not (home / "lab").exists()
