"""Real ``govmig run`` processes sharing one consumer group and one PostgreSQL database.

Used by ``bench/instances.py``. ``Fleet`` starts K intake-only instances
(``--no-worker``: systems stop at ``placed``, no playbooks) on the same topics,
group and database, each serving its metrics on its own port and writing its
log to the work directory. ``wait_joined`` returns once the broker's group
coordinator says the group is stable with every instance holding partitions of
the events topic: from then on no rebalance is pending, so what follows is
throughput, not joining. ``counter`` reads a counter's total over every
instance's ``/metrics``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from bench.intake_kafka import REPO
from orchestrator.devkafka.processes import is_port_free
from orchestrator.settings import KafkaSettings

FIRST_METRICS_PORT = 19464
JOIN_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
SCRAPE_TIMEOUT_S = 10.0
# The coordinator's state once every member has its assignment.
STABLE = "Stable"


class Fleet:
    """``count`` intake-only ``govmig run`` processes; a context manager that stops them all."""

    def __init__(self, settings: KafkaSettings, state_db: str, workdir: Path, count: int) -> None:
        self._settings = settings
        self.ports = _free_ports(count)
        environment = {
            **os.environ,
            "GOVMIG_EVENTS_TOPIC": settings.events_topic,
            "GOVMIG_STATUS_TOPIC": settings.status_topic,
            "GOVMIG_DLQ_TOPIC": settings.dlq_topic,
            "GOVMIG_CONTROL_TOPIC": settings.control_topic,
        }
        self._processes: list[subprocess.Popen[bytes]] = []
        self.logs = [workdir / f"instance-{index + 1}.log" for index in range(count)]
        for port, log in zip(self.ports, self.logs, strict=True):
            command = [
                sys.executable, "-m", "orchestrator.cli.run",
                "--bootstrap-servers", settings.bootstrap_servers,
                "--state-db", state_db,
                "--group", settings.consumer_group,
                "--metrics-port", str(port),
                "--no-worker",
            ]  # fmt: skip
            with log.open("ab") as out:
                self._processes.append(
                    subprocess.Popen(
                        command, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT
                    )
                )

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def wait_joined(self) -> None:
        """Until the group is stable with every instance holding partitions of the events topic."""
        admin = KafkaAdminClient(
            bootstrap_servers=self._settings.bootstrap_servers, client_id="govmig-bench"
        )
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        try:
            while not self._joined(admin):
                self.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the group was not stable within {JOIN_TIMEOUT_S:g} s")
                time.sleep(0.2)
        finally:
            admin.close()

    def _joined(self, admin: KafkaAdminClient) -> bool:
        group = self._settings.consumer_group
        try:
            described = admin.describe_groups([group])[group]
        except KafkaError as error:  # e.g. no coordinator yet, while the group is being created
            if not error.retriable:
                raise
            return False
        return joined(described, self._settings.events_topic, len(self._processes))

    def counter(self, name: str) -> float:
        """A counter's total over every instance, read from their ``/metrics``."""
        return sum(counter_total(_scrape(port), name) for port in self.ports)

    def check_alive(self) -> None:
        """Fail loudly, with its log, if an instance has exited."""
        for process, log in zip(self._processes, self.logs, strict=True):
            code = process.poll()
            if code is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"govmig run exited with {code}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM each instance (it leaves the group and flushes), then kill what lingers."""
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)


def joined(described: Mapping[str, Any], events_topic: str, instances: int) -> bool:
    """Whether a group (as ``describe_groups`` gives it) is stable with ``instances`` members,
    each assigned at least one partition of ``events_topic``."""
    members = described.get("members") or []
    if described.get("group_state") != STABLE or len(members) != instances:
        return False
    return all(_assigned(member, events_topic) for member in members)


def _assigned(member: Mapping[str, Any], topic: str) -> bool:
    assignment = member.get("member_assignment") or {}
    return any(
        owned.get("topic") == topic and owned.get("partitions")
        for owned in assignment.get("assigned_partitions") or []
    )


def counter_total(exposition: str, name: str) -> float:
    """The sum of a counter's samples (every label set) in a Prometheus text exposition."""
    family = name.removesuffix("_total")
    return sum(
        sample.value
        for metric in text_string_to_metric_families(exposition)
        if metric.name == family
        for sample in metric.samples
        if sample.name == f"{family}_total"
    )


def _scrape(port: int) -> str:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT_S
    ) as response:
        return str(response.read().decode())


def _free_ports(count: int) -> list[int]:
    """``count`` free ports from ``FIRST_METRICS_PORT`` upward, for the metrics endpoints."""
    found: list[int] = []
    port = FIRST_METRICS_PORT
    while len(found) < count:
        if is_port_free("127.0.0.1", port):
            found.append(port)
        port += 1
    return found
