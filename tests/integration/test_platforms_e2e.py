"""A PRD platform's life through ``govmig platform`` and ``govmig run``, on a real broker.

Real broker, real ``govmig run`` (intake only: systems rest where placement
leaves them), SQLite in ``tmp_path``. Guangzhou's own cloud is connected with
``govmig platform connect``; a Guangzhou system is placed on it, a Meizhou one
is not; a disconnect while it holds the system is dead-lettered
(``platform_in_use``, saying how many) and refused by the CLI too; drained, it
takes no new system; once the system is cancelled it disconnects. Bad platform
events are dead-lettered with their reasons, and the 14 nodes' totals stay the
plan's exactly throughout (``govmig capacity``). With the phase worker and the
``local`` provider, a system of Guangzhou migrates onto the platform whose
connect event gave it an IPv6 prefix.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.bus import Producer, read_topic
from orchestrator.events import new_event
from orchestrator.events.codec import OutboundRecord
from orchestrator.events.data import (
    MigrationCancelRequested,
    NodeTotals,
    PlatformConnected,
    PlatformDisconnected,
)
from orchestrator.events.envelope import event_key, to_wire
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_STORAGE_GB, PLAN_VCPU
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from orchestrator.store import get_node, get_system
from tests.fixtures.cli import govmig as run_govmig
from tests.fixtures.orchestrator import (
    GovmigRun,
    govmig_run,
    kafka_settings,
    publish,
    read_store,
    register_and_request,
    wait_for_states,
)
from tests.fixtures.polling import wait_until
from tests.fixtures.systems import business_system
from tests.integration.test_migration_e2e import assert_moved, prepare, wait_for

pytestmark = pytest.mark.kafka

S = SystemState
GUANGZHOU = NodeTotals(vcpu=8_000, memory_gb=24_000, storage_gb=800_000)
GZ_TAX = business_system("gz-tax", "guangzhou", vcpu=8, memory_gb=32, storage_gb=500)
GZ_NEW = business_system("gz-new", "guangzhou", vcpu=8, memory_gb=32, storage_gb=500)
MZ_GJJ = business_system("mz-gjj", "meizhou", vcpu=8, memory_gb=32, storage_gb=500)


def govmig(settings: KafkaSettings, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``govmig`` against this test's broker, topic and store."""
    return run_govmig(
        *args,
        "--state-db",
        url,
        env={
            "GOVMIG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "GOVMIG_EVENTS_TOPIC": settings.events_topic,
            "GOVMIG_ACTOR": "ops",
        },
    )


def read_json(settings: KafkaSettings, url: str, *args: str) -> Any:
    done = govmig(settings, url, *args, "--output", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def dead_letters(settings: KafkaSettings) -> list[tuple[bytes, bytes]]:
    """(reason, message) of every dead letter so far."""
    letters = [dict(letter.headers) for letter in read_topic(settings, settings.dlq_topic)]
    return [(h["govmig_dlq_reason"], h.get("govmig_dlq_message", b"")) for h in letters]


def publish_negative_capacity(settings: KafkaSettings) -> None:
    """A connect whose vCPU is negative: built valid, then edited on the wire."""
    event = new_event(PlatformConnected(platform_id="foshan", capacity=GUANGZHOU), source="/tests")
    wire = to_wire(event)
    wire["data"]["capacity"]["vcpu"] = -8
    record = OutboundRecord(
        key=event_key(event).encode(),
        value=json.dumps(wire).encode(),
        headers=(("content-type", b"application/cloudevents+json"),),
    )
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, [record])


def assert_node_totals_exact(settings: KafkaSettings, url: str) -> None:
    capacity = read_json(settings, url, "capacity")
    assert len(capacity["nodes"]) == 14
    total = capacity["total"]
    assert (total["vcpu"]["total"], total["memory_gb"]["total"], total["storage_gb"]["total"]) == (
        PLAN_VCPU,
        PLAN_MEMORY_GB,
        PLAN_STORAGE_GB,
    )


def platform_node(url: str) -> tuple[str, list[str]] | None:
    """Guangzhou platform's status and holders, or None while it is not connected."""
    usage = read_store(url, lambda session: get_node(session, "guangzhou"))
    return None if usage is None else (str(usage.node.status), sorted(usage.allocations))


def node_of(url: str, system_id: str) -> str | None:
    row = read_store(url, lambda session: get_system(session, system_id))
    return None if row is None else row.node


def connect_on(settings: KafkaSettings, url: str, run: GovmigRun, *args: str) -> None:
    done = govmig(settings, url, "platform", "connect", "guangzhou", *args)
    assert done.returncode == 0, done.stderr
    run.assert_alive()


def test_connect_place_refuse_drain_release_disconnect(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    with govmig_run(settings, url, tmp_path) as run:
        wait_until(lambda: store_ready(url), timeout_s=60, what="the store")
        connect_on(settings, url, run, "--vcpu", "8000", "--memory-gb", "24000",
                   "--storage-gb", "800000", "--host", "gz-cloud-1",
                   "--ipv6-prefix", "2001:db8:100::/48")  # fmt: skip
        wait_until(lambda: platform_node(url) == ("online", []), timeout_s=30, what="connect")
        listed = read_json(settings, url, "platform", "list")
        assert (listed["connected"], listed["of"]) == (1, 7)
        assert listed["platforms"][0]["hosts"] == ["gz-cloud-1"]
        assert listed["platforms"][0]["ipv6_prefix"] == "2001:db8:100::/48"
        register_and_request(settings, [GZ_TAX, MZ_GJJ])
        wait_for_states(url, {GZ_TAX.id: S.PLACED, MZ_GJJ.id: S.PLACED}, run, timeout_s=60)
        assert (node_of(url, GZ_TAX.id), node_of(url, MZ_GJJ.id)) == ("guangzhou", "meizhou")
        assert_node_totals_exact(settings, url)

        # In use: the CLI refuses, and the orchestrator dead-letters one sent anyway.
        refused = govmig(settings, url, "platform", "disconnect", "guangzhou")
        assert refused.returncode != 0
        assert "holds 1 system (gz-tax)" in refused.stderr
        publish(settings, [PlatformDisconnected(platform_id="guangzhou", requested_by="ops")])
        wait_until(lambda: len(dead_letters(settings)) == 1, timeout_s=30, what="dead letter")
        reason, message = dead_letters(settings)[0]
        assert reason == b"platform_in_use"
        assert b"holds 1 system (gz-tax)" in message
        assert platform_node(url) == ("online", ["gz-tax"])

        # Drained: keeps gz-tax, takes nothing new.
        connect_on(settings, url, run, "--state", "draining")
        wait_until(lambda: platform_node(url) == ("draining", ["gz-tax"]), timeout_s=30,
                   what="drain")  # fmt: skip
        register_and_request(settings, [GZ_NEW])
        wait_for_states(url, {GZ_NEW.id: S.PLACED}, run, timeout_s=60)
        assert node_of(url, GZ_NEW.id) != "guangzhou"

        # Released, it disconnects.
        publish(settings, [MigrationCancelRequested(system_id=GZ_TAX.id, requested_by="ops")])
        wait_for_states(url, {GZ_TAX.id: S.CANCELLED}, run, timeout_s=60)
        done = govmig(settings, url, "platform", "disconnect", "guangzhou")
        assert done.returncode == 0, done.stderr
        wait_until(lambda: platform_node(url) is None, timeout_s=30, what="disconnect")
        listed = read_json(settings, url, "platform", "list")
        assert listed["connected"] == 0
        capacity = read_json(settings, url, "capacity")
        assert capacity["platforms"] == []
        assert_node_totals_exact(settings, url)

        # Bad platform events, each dead-lettered with its reason.
        publish(settings, [PlatformConnected(platform_id="shantou", capacity=GUANGZHOU)])
        publish_negative_capacity(settings)
        wait_until(lambda: len(dead_letters(settings)) == 3, timeout_s=30, what="dead letters")
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    reasons = sorted(dead_letters(settings)[1:])
    assert [reason for reason, _ in reasons] == [b"schema", b"unknown_platform"]
    assert b"one of the 14 city nodes" in reasons[1][1]
    assert_node_totals_exact(settings, url)


def store_ready(url: str) -> bool:
    return read_store(url, lambda session: get_node(session, "shantou")) is not None


@pytest.mark.ansible
def test_a_system_migrates_onto_its_citys_platform_with_the_local_provider(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path, work: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    checksums = prepare(work, [GZ_TAX])
    db, url = tmp_path / "govmig.db", f"sqlite:///{tmp_path / 'govmig.db'}"
    options = ("--worker", "--work-root", str(work), "--artifacts-dir", str(tmp_path / "artifacts"))
    with govmig_run(settings, url, tmp_path, *options) as run:
        connected = PlatformConnected(
            platform_id="guangzhou", capacity=GUANGZHOU, ipv6_prefix="2001:db8:100::/48"
        )
        publish(settings, [connected])
        wait_until(lambda: store_ready(url), timeout_s=60, what="the store")
        wait_until(lambda: platform_node(url) == ("online", []), timeout_s=30, what="connect")
        register_and_request(settings, [GZ_TAX])
        wait_for(db, S.COMPLETED, [GZ_TAX.id])
        assert_moved(work, GZ_TAX.id, "guangzhou", checksums[GZ_TAX.id])
        assert platform_node(url) == ("online", [GZ_TAX.id])
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    assert_node_totals_exact(settings, url)
