"""Two orchestrators in one consumer group sharing one PostgreSQL never over-commit a node.

Both run as real ``govmig run`` subprocesses. One node is shrunk through a
``gov.cloud.node.updated`` event, then every system asks for that node with
``--to``; both instances handle batches at once (each reads its batch count
from its own metrics endpoint), then the first leaves mid-run, so the group
rebalances and the second finishes the first's share. Across both, the node's
allocations stay within its capacity and every system ends placed or rolled
back with the node's shortfall as the reason.
"""

from __future__ import annotations

import re
import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.events.data import NodeReserved, NodeUpdated
from orchestrator.inventory import generate_catalogue
from orchestrator.migrations import SystemState
from tests.fixtures.orchestrator import (
    GovmigRun,
    count_rows,
    govmig_run,
    kafka_settings,
    publish,
    read_fleet,
    register_and_request,
)
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

S = SystemState
NODE = "shanwei"
CAPACITY_VCPU = 300
FINISHED = "SELECT count(*) FROM systems WHERE state IN ('placed', 'rolled_back')"
UNPUBLISHED = "SELECT count(*) FROM transitions WHERE published_at IS NULL"


def batches_handled(run: GovmigRun) -> float:
    """How many batches an instance handled, read from its own metrics endpoint."""
    found = re.search(r"metrics (http://\S+/metrics)", run.output())
    assert found, run.output()
    with urllib.request.urlopen(found.group(1), timeout=10) as response:
        text = response.read().decode()
    counts = re.findall(r"^govcloud_batch_duration_seconds_count (\S+)$", text, re.MULTILINE)
    return float(counts[0]) if counts else 0.0


def test_two_instances_share_the_work_and_never_over_commit(
    kafka_bootstrap: str, new_topic: Callable[..., str], fresh_postgres_url: str, tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic, events=6)
    url = fresh_postgres_url
    systems = generate_catalogue(120)
    options = ("--batch-size", "10", "--session-timeout", "6")
    with (
        govmig_run(settings, url, tmp_path, *options, name="first") as first,
        govmig_run(settings, url, tmp_path, *options, name="second") as second,
    ):
        # Only CAPACITY_VCPU vCPU stay allocatable on the node (5,000 minus what is held back).
        held = NodeReserved(vcpu=5000 - CAPACITY_VCPU, memory_gb=600, storage_gb=9600)
        publish(settings, [NodeUpdated(node_id=NODE, reserved=held, requested_by="tests")])
        node_reserved = f"SELECT vcpu_reserved FROM nodes WHERE id = '{NODE}'"
        wait_until(lambda: count_rows(url, node_reserved) == held.vcpu, timeout_s=30, what="update")
        # The line lists every topic's partitions; each instance must own some events ones.
        assigned = re.compile(rf"partitions assigned: .*{re.escape(settings.events_topic)}\[")
        wait_until(
            lambda: all(assigned.search(run.output()) for run in (first, second)),
            timeout_s=30,
            what="both instances to own partitions",
        )
        register_and_request(settings, systems, target=NODE)
        wait_until(
            lambda: count_rows(url, FINISHED) >= len(systems) // 3, timeout_s=60, what="work"
        )
        # The first leaves mid-run: the group rebalances and the second takes over its share.
        assert batches_handled(first) > 0
        first.signal(signal.SIGTERM)
        assert first.wait(30) == 0, first.output()
        wait_until(
            lambda: count_rows(url, FINISHED) == len(systems) and count_rows(url, UNPUBLISHED) == 0,
            timeout_s=60,
            what="every system placed or rolled back, and announced",
        )
        assert batches_handled(second) > 0
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0, second.output()

    fleet = read_fleet(url)
    assert fleet.over_committed() == []
    node = next(usage for usage in fleet.usage if usage.node.node_id == NODE)
    assert node.node.capacities["VCPU"] == CAPACITY_VCPU
    states = fleet.states()
    placed = [system_id for system_id, state in states.items() if state is S.PLACED]
    rolled_back = [system_id for system_id, state in states.items() if state is S.ROLLED_BACK]
    assert len(placed) + len(rolled_back) == len(systems)
    assert placed, "the node took some systems"
    assert rolled_back, "the node was oversubscribed"
    assert {fleet.systems[system_id].node for system_id in placed} == {NODE}
    assert sorted(node.allocations) == sorted(placed)
    for system_id in rolled_back:
        error = fleet.systems[system_id].last_error
        assert error is not None
        assert error.startswith(f"placement failed: node {NODE} lacks "), error
    for system_id, rows in fleet.audit.items():
        path = [(row.from_state, row.to_state) for row in rows]
        assert path == [
            (None, S.REGISTERED),
            (S.REGISTERED, S.QUEUED),
            (S.QUEUED, states[system_id]),
        ]
