"""Bad input ends in the DLQ with its reason, untouched, and the next good event still flows.

All cases are produced once, interleaved with good events, into one single-
partition topic (so "the next event" is well defined); the loop runs once over
the whole topic in a module-scoped fixture and each case is then asserted on its own.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import confluent_kafka
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from orchestrator.bus import Consumer, Producer, read_topic
from orchestrator.events.codec import KafkaRecord
from orchestrator.reactor import FloodGuard, FloodPolicy, Reactor
from orchestrator.reactor.deadletter import (
    MAX_KEPT_VALUE_BYTES,
    NULL_VALUE,
    TRUNCATED,
    describe,
    strip,
)
from orchestrator.settings import KafkaSettings
from tests.fixtures.polling import wait_until
from tests.fixtures.recording import RecordingHandler

pytestmark = pytest.mark.kafka

CASE = "test-case"  # a header of our own, to find each case in the DLQ
STRUCTURED = ("content-type", b"application/cloudevents+json")
SYSTEM = "shantou-bdcdj"


def envelope(**changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "/cmdb/shantou",
        "type": "gov.cloud.system.registered",
        "data": {
            "id": SYSTEM,
            "name": "不动产登记信息平台",
            "city": "shantou",
            "department": "汕头市自然资源局",
            "vcpu": 16,
            "memory_gb": 64,
            "storage_gb": 2000,
            "source": {"city": "shantou", "site": "机房A", "host": "bdcdj.st.gd.gov.cn"},
        },
    }
    wire.update(changes)
    return {name: value for name, value in wire.items() if value is not None}


def data(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = envelope()["data"]
    body.update(changes)
    return body


def js(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def binary_headers(**attributes: str) -> list[tuple[str, bytes]]:
    base = {"id": uuid.uuid4().hex, "source": "/cmdb/shantou", "specversion": "1.0"}
    base["type"] = "gov.cloud.system.registered"
    base.update(attributes)
    return [(f"ce_{name}", value.encode()) for name, value in base.items()]


@dataclass(frozen=True)
class Bad:
    """One kind of bad input: what is sent, and the reason code it must be dead-lettered with."""

    code: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = (STRUCTURED,)


KEY = SYSTEM.encode()
NEAR_LIMIT = 1_048_300
BAD: dict[str, Bad] = {
    "not-json": Bad("not_json", KEY, b'{"specversion": "1.0",'),
    "empty-value": Bad("empty", KEY, b""),
    "tombstone": Bad("empty", KEY, None),
    "no-key-no-value": Bad("empty", None, None, ()),
    "value-not-utf8": Bad("bad_encoding", KEY, b'{"id": "\xff\xfe"}'),
    "key-not-utf8": Bad("bad_encoding", b"\xc3\x28", js(envelope())),
    "header-not-utf8": Bad("bad_encoding", KEY, js(data()), (("ce_id", b"\xff"),)),
    "json-array": Bad("not_object", KEY, js([envelope()])),
    "json-nan": Bad("not_json", KEY, b'{"specversion": NaN}'),
    "json-duplicate-key": Bad("not_json", KEY, b'{"id": "a", "id": "b"}'),
    "json-too-deep": Bad("not_json", KEY, b"[" * 50_000 + b"]" * 50_000),
    "too-large": Bad("too_large", KEY, js(envelope(pad="x" * 300_000))),
    # So close to the broker's 1 MiB limit that it plus our headers would not fit.
    "near-broker-limit": Bad("too_large", KEY, b"x" * NEAR_LIMIT),
    "text-plain": Bad("bad_content_type", KEY, js(envelope()), (("content-type", b"text/plain"),)),
    "cloudevents-xml": Bad(
        "bad_content_type", KEY, b"<e/>", (("content-type", b"application/cloudevents+xml"),)
    ),
    "data-base64": Bad("bad_content_type", KEY, js(envelope(data=None, data_base64="e30="))),
    "no-specversion": Bad("missing_attribute", KEY, js(envelope(specversion=None))),
    "no-id": Bad("missing_attribute", KEY, js(envelope(id=None))),
    "specversion-0.3": Bad("bad_specversion", KEY, js(envelope(specversion="0.3"))),
    "unknown-type": Bad("unknown_type", KEY, js(envelope(type="gov.cloud.system.exploded"))),
    "outbound-type-inbound": Bad(
        "unknown_type", KEY, js(envelope(type="gov.cloud.system.status_changed"))
    ),
    "hostile-event-id": Bad("bad_attribute", KEY, js(envelope(id="x'; DROP TABLE systems;--"))),
    "time-not-rfc3339": Bad("bad_attribute", KEY, js(envelope(time="yesterday"))),
    "negative-vcpu": Bad("schema", KEY, js(envelope(data=data(vcpu=-1)))),
    "vcpu-as-string": Bad("schema", KEY, js(envelope(data=data(vcpu="16")))),
    "path-in-system-id": Bad("schema", b"../etc", js(envelope(data=data(id="../etc")))),
    "terminal-escape-in-name": Bad("schema", KEY, js(envelope(data=data(name="\x1b[31mred")))),
    "unknown-field-in-data": Bad("schema", KEY, js(envelope(data=data(root=True)))),
    "key-mismatch": Bad("key_mismatch", b"shantou-other", js(envelope())),
    "no-key": Bad("key_mismatch", None, js(envelope())),
    "binary-repeated-header": Bad(
        "bad_attribute", KEY, js(data()), (*binary_headers(), ("ce_id", b"again"))
    ),
    "binary-data-header": Bad(
        "bad_attribute", KEY, js(data()), (*binary_headers(), ("ce_data", b"{}"))
    ),
}


@dataclass
class Run:
    """What one loop over the whole topic left behind."""

    dead: dict[str, KafkaRecord]
    processed_ids: set[str]
    good_after: dict[str, str]


def produce(bootstrap: str, topic: str) -> dict[str, str]:
    """Every bad case, each followed by a good event; returns case → id of that good event."""
    config = {"bootstrap.servers": bootstrap, "acks": "all", "message.max.bytes": 2_000_000}
    producer = confluent_kafka.Producer(config)
    good_after: dict[str, str] = {}
    for case, bad in BAD.items():
        headers: list[tuple[str, str | bytes | None]] = [*bad.headers, (CASE, case.encode())]
        producer.produce(topic, key=bad.key, value=bad.value, headers=headers)
        good = envelope()
        good_after[case] = good["id"]
        producer.produce(topic, key=KEY, value=js(good), headers=[STRUCTURED])
    assert producer.flush(15) == 0
    return good_after


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str) -> Run:
    suffix = uuid.uuid4().hex[:12]
    names = [f"bad.events.{suffix}", f"bad.status.{suffix}", f"bad.dlq.{suffix}"]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="govmig-tests")
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1) for name in names])
    admin.close()
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=names[0],
        status_topic=names[1],
        dlq_topic=names[2],
        consumer_group=f"test-{suffix}",
    )
    good_after = produce(kafka_bootstrap, settings.events_topic)
    handler = RecordingHandler()
    # Half the records are bad by design: the flood guard must not pause this test.
    guard = FloodGuard(FloodPolicy(max_share=0.99))
    consumer = Consumer(settings, topics=[settings.events_topic], max_poll_records=25)
    producer = Producer(settings)
    reactor = Reactor(
        consumer=consumer,
        producer=producer,
        handler=handler,
        dlq_topic=settings.dlq_topic,
        flood=guard,
    )
    handled = 0

    def all_handled() -> bool:
        nonlocal handled
        result = reactor.run_once()
        handled += result.records if result else 0
        return handled >= 2 * len(BAD)

    try:
        wait_until(all_handled, timeout_s=30, what=lambda: f"{handled} of {2 * len(BAD)} records")
    finally:
        consumer.close()
        producer.close()
    dead = {_case(record): record for record in read_topic(settings, settings.dlq_topic)}
    return Run(dead, {event.id for event in handler.processed}, good_after)


def _case(record: KafkaRecord) -> str:
    return dict(record.headers)[CASE].decode()


def test_at_least_twenty_kinds() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_dead_lettered_untouched(run: Run, case: str) -> None:
    bad = BAD[case]
    letter = run.dead[case]
    assert describe(letter).reason == bad.code, describe(letter).message
    assert letter.key == bad.key
    assert strip(letter.headers) == (*bad.headers, (CASE, case.encode()))
    if bad.key is None and bad.value is None:
        assert (letter.value, dict(letter.headers)[NULL_VALUE]) == (b"", b"1")
    elif case == "near-broker-limit":
        assert letter.value == b"x" * MAX_KEPT_VALUE_BYTES
        assert dict(letter.headers)[TRUNCATED] == str(NEAR_LIMIT).encode()
    else:
        assert letter.value == bad.value


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_next_good_event_is_processed(run: Run, case: str) -> None:
    assert run.good_after[case] in run.processed_ids


def test_only_the_bad_ones_are_dead_lettered(run: Run) -> None:
    assert set(run.dead) == set(BAD)
    assert len(run.processed_ids) == len(BAD)
