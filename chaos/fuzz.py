"""Fuzzed events: records that are each bad in a way intake must name, mixed with valid ones.

Every fuzzed record is built from a valid structured event and broken by one
mutation that cannot yield a valid event (so each one must be dead-lettered);
a header of ours carries its number, to find it in the dead-letter topic.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from orchestrator.events import KafkaRecord, OutboundRecord, encode, new_event
from orchestrator.inventory.models import BusinessSystem

CASE = "chaos-case"
STRUCTURED = ("content-type", b"application/cloudevents+json")
# A broken record: its key, its value and its headers.
Broken = tuple[bytes, bytes, list[tuple[str, bytes]]]
Mutation = Callable[[random.Random, dict[str, Any], bytes], Broken]


def structured(system: BusinessSystem) -> dict[str, Any]:
    """A valid registration, as the JSON document of a structured-mode record."""
    record = encode(new_event(system, source="/chaos/fuzz"), mode="structured")
    document: dict[str, Any] = json.loads(record.value or b"{}")
    return document


def _bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def random_bytes(rng: random.Random, _doc: dict[str, Any], key: bytes) -> Broken:
    # A leading byte that can start no JSON document.
    return key, b"\xff" + rng.randbytes(rng.randrange(0, 200)), [STRUCTURED]


def truncated(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    whole = _bytes(doc)
    return key, whole[: rng.randrange(1, len(whole) - 1)], [STRUCTURED]


def attribute_dropped(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    doc.pop(rng.choice(["specversion", "id", "type", "source"]))
    return key, _bytes(doc), [STRUCTURED]


def unknown_type(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    doc["type"] = f"gov.cloud.{rng.randbytes(6).hex()}"
    return key, _bytes(doc), [STRUCTURED]


def bad_size(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    field = rng.choice(["vcpu", "memory_gb", "storage_gb"])
    doc["data"][field] = rng.choice([-rng.randrange(1, 10**6), str(rng.randrange(100)), None, [1]])
    return key, _bytes(doc), [STRUCTURED]


def hostile_name(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    doc["data"]["name"] = rng.choice(["\x1b[31m", "\x00", "\x07"]) + rng.randbytes(4).hex()
    return key, _bytes(doc), [STRUCTURED]


def key_mismatch(rng: random.Random, doc: dict[str, Any], _key: bytes) -> Broken:
    return f"other-{rng.randbytes(4).hex()}".encode(), _bytes(doc), [STRUCTURED]


def not_an_object(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    return key, _bytes(rng.choice([[doc], rng.random(), "event", None])), [STRUCTURED]


def bad_content_type(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    kind = rng.choice([b"text/plain", b"application/xml", b"application/cloudevents+xml"])
    return key, _bytes(doc), [("content-type", kind)]


def bad_time(rng: random.Random, doc: dict[str, Any], key: bytes) -> Broken:
    doc["time"] = rng.choice(["yesterday", "2026-13-45T99:00:00Z", str(rng.random())])
    return key, _bytes(doc), [STRUCTURED]


MUTATIONS: tuple[Mutation, ...] = (
    random_bytes, truncated, attribute_dropped, unknown_type, bad_size, hostile_name,
    key_mismatch, not_an_object, bad_content_type, bad_time,
)  # fmt: skip


def fuzzed(rng: random.Random, number: int, system: BusinessSystem) -> OutboundRecord:
    """Fuzzed record ``number``, broken from a valid registration of ``system``."""
    mutate = MUTATIONS[number % len(MUTATIONS)]
    key, value, headers = mutate(rng, structured(system), system.id.encode())
    return OutboundRecord(key=key, value=value, headers=(*headers, (CASE, str(number).encode())))


def case_of(record: KafkaRecord) -> int | None:
    for name, value in record.headers:
        if name == CASE:
            return int(value)
    return None
