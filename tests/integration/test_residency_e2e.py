"""Data residency through ``govmig run``: the engine's own refusal, and placement within a rule.

Real broker, real ``govmig run`` (intake only: systems rest where placement
leaves them) on the sample residency rules (``inventory/residency.yml``, its
default), SQLite in ``tmp_path``. The requests are published directly, not by
``govmig migrate``, so what refuses a forbidden ``--to`` is the engine:

* a personal-data system of Shantou asked onto Heyuan is refused with the
  rule's words, audited and announced, and the ledger is left as it was;
* an ``eastern`` system of Meizhou (not an eastern city) lands only on an
  eastern node, and its audit names the rule;
* a registration naming a data class no rule names is dead-lettered with
  ``unknown_data_class``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.bus import read_topic
from orchestrator.events.envelope import SystemStatusChangedEvent
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from orchestrator.store import get_allocation, history, node_usage
from tests.fixtures.orchestrator import (
    govmig_run,
    kafka_settings,
    reading,
    register_and_request,
    status_events,
    wait_for_states,
)
from tests.fixtures.polling import wait_until
from tests.fixtures.systems import business_system

pytestmark = pytest.mark.kafka

S = SystemState
EASTERN = {"shantou", "chaozhou", "jieyang", "shanwei"}
REFUSAL = (
    "placement failed: residency rule 'personal' keeps shantou-psb-001 in shantou; node heyuan "
    "is not allowed (node heyuan was named with --to, and a retry names it again: migrate with "
    "another --to, or none); nothing was reserved and the source keeps serving"
)


def with_class(system_id: str, city: str, data_class: str) -> BusinessSystem:
    """A record of ``system_id`` in ``city``, carrying ``data_class``."""
    fields = business_system(system_id, city, vcpu=4, memory_gb=16, storage_gb=100).model_dump()
    return BusinessSystem.model_validate({**fields, "data_class": data_class})


def dead_reasons(settings: KafkaSettings) -> list[bytes]:
    """The reason header of every dead letter so far."""
    return [
        dict(letter.headers)["govmig_dlq_reason"]
        for letter in read_topic(settings, settings.dlq_topic)
    ]


def test_the_engine_refuses_a_forbidden_target_and_places_within_the_rule(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    personal = with_class("shantou-psb-001", "shantou", "personal")
    eastern = with_class("meizhou-psb-001", "meizhou", "eastern")
    secret = with_class("shantou-psb-002", "shantou", "secret")
    register_and_request(settings, [personal], target="heyuan")
    register_and_request(settings, [eastern, secret])
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    # The request about the unregistered system waits 1 s for a registration that never comes.
    with govmig_run(settings, url, tmp_path, "--registration-wait", "1") as run:
        wanted = {personal.id: S.ROLLED_BACK, eastern.id: S.PLACED}
        wait_for_states(url, wanted, run, timeout_s=60)
        wait_until(lambda: len(dead_reasons(settings)) == 2, timeout_s=30, what="dead letters")
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()
    with reading(url) as store, store.session() as session:
        refused, placed = history(session, personal.id), history(session, eastern.id)
        assert get_allocation(session, personal.id) is None
        usage = {node.node.node_id: node for node in node_usage(session)}
    assert (refused[-1].from_state, refused[-1].to_state) == (S.QUEUED, S.ROLLED_BACK)
    assert refused[-1].reason == REFUSAL
    assert sum(usage["heyuan"].used.values()) == 0
    assert all(personal.id not in node.allocations for node in usage.values())
    node = placed[-1].node
    assert node in EASTERN
    assert eastern.id in usage[node].allocations
    assert placed[-1].reason == (
        f"placed on node {node} (spread: best fit, within residency rule 'eastern')"
    )
    announced = [
        event.data.reason
        for event in status_events(settings)
        if isinstance(event, SystemStatusChangedEvent) and event.data.system_id == personal.id
    ]
    assert REFUSAL in announced
    # The registration, and the request naming the unregistered system once its wait ran out.
    assert sorted(dead_reasons(settings)) == [b"unknown_data_class", b"unknown_system"]
