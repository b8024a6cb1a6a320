"""The Kafka codec: Kafka records to validated events and back (CloudEvents Kafka binding).

Inbound, ``decode`` turns one record into an ``InboundEvent`` or raises a
``Rejection`` (never anything else): size, encoding and mode are read by
``wire``, the attributes and data are validated by the ``envelope`` models, then
the Kafka key, the subject and (given ``known``) the referenced ids are checked.

Outbound, ``encode`` writes one event as the ``cloudevents`` SDK's Kafka
binding does. Binary mode is the default and what the orchestrator publishes on
``govcloud.status``: ``ce_*`` headers, ``content-type: application/json`` and
the data as the value, so consumers read the data without unwrapping it. Its
headers are written here, byte for byte what the SDK writes (a test compares
them), because the SDK re-validates what the models already did and the outbox
encodes one event per state change.
Structured mode (``content-type: application/cloudevents+json``, the whole
envelope as the value) is there for producers and tools that want it. The Kafka
key is always what the event is about (``envelope.data_key``): the system id, the
node id for ``gov.cloud.node.updated``, the platform id for ``gov.cloud.platform.*``,
``wave-N`` for a wave, ``intake`` for intake.

Producers build events with ``new_event``. Inventory publishing passes
``id=content_id(data)``, so republishing an unchanged record repeats its id and
the consumer treats it as a duplicate; the orchestrator can do the same for a
status event (its data holds ``at`` and ``caused_by``) so that re-emitting it
after a crash repeats the id too.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.events import wire
from orchestrator.events.envelope import (
    DATA_TYPES,
    EVENT_ADAPTER,
    EVENT_CLASSES,
    INBOUND_ADAPTER,
    INBOUND_TYPES,
    Event,
    EventData,
    EventType,
    InboundEvent,
    data_key,
    event_key,
    from_wire,
    to_wire,
)
from orchestrator.events.fields import JSON_CONTENT_TYPE_PATTERN, PATTERN_HINTS
from orchestrator.events.reasons import REASON_CODES, Rejection
from orchestrator.events.references import KnownIds, check_references
from orchestrator.events.wire import DEFAULT_MAX_BYTES

__all__ = [
    "DEFAULT_MAX_BYTES",
    "REASON_CODES",
    "KafkaRecord",
    "KnownIds",
    "OutboundRecord",
    "Rejection",
    "content_id",
    "decode",
    "decode_any",
    "decode_document",
    "encode",
    "new_event",
]

JSON_CONTENT_TYPE: Final = "application/json"
_JSON_CONTENT_TYPE: Final = re.compile(JSON_CONTENT_TYPE_PATTERN)
E = TypeVar("E", InboundEvent, Event)


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """A transport-neutral view of one consumed Kafka message; ``bus`` converts to and from it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """What to produce for one event; the topic is the producer's choice."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def as_record(self, topic: str, *, partition: int = 0, offset: int = 0) -> KafkaRecord:
        """The record a consumer would see, for tests and for replaying."""
        return KafkaRecord(topic, partition, offset, self.key, self.value, self.headers)


def decode(
    record: KafkaRecord, *, known: KnownIds | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> InboundEvent:
    """One inbound event from ``record``, or ``Rejection`` with the reason code."""
    return _decode(record, INBOUND_ADAPTER, INBOUND_TYPES, known, max_bytes)


def decode_any(
    record: KafkaRecord, *, known: KnownIds | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Event:
    """Like ``decode``, also accepting outbound types: for readers of ``govcloud.status``."""
    return _decode(record, EVENT_ADAPTER, frozenset(EventType), known, max_bytes)


def decode_document(
    payload: bytes, *, known: KnownIds | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Event:
    """One structured-mode event of any type from a file, with no Kafka key to compare."""
    wire.check_size(None, payload, (), max_bytes)
    attributes = wire.structured_attributes(payload)
    event = _validate(attributes, EVENT_ADAPTER, frozenset(EventType))
    _check_identity(event, attributes.get("partitionkey"))
    if known is not None:
        check_references(event, known)
    return event


def _decode(
    record: KafkaRecord,
    adapter: TypeAdapter[E],
    accepted: frozenset[str],
    known: KnownIds | None,
    max_bytes: int,
) -> E:
    wire.check_size(record.key, record.value, record.headers, max_bytes)
    key = wire.decode_key(record.key)
    attributes = wire.record_attributes(record.value, record.headers)
    event = _validate(attributes, adapter, accepted)
    expected = _check_identity(event, attributes.get("partitionkey"))
    if key != expected:
        shown = "no Kafka key" if key is None else f"Kafka key {key!r}"
        raise Rejection("key_mismatch", f"{shown}; the event is about {expected!r}")
    if known is not None:
        check_references(event, known)
    return event


def _validate(attributes: dict[str, Any], adapter: TypeAdapter[E], accepted: frozenset[str]) -> E:
    _check_required(attributes, accepted)
    try:
        return adapter.validate_python(from_wire(attributes))
    except ValidationError as error:
        raise _rejection(error) from None


def _check_required(attributes: dict[str, Any], accepted: frozenset[str]) -> None:
    if "specversion" not in attributes:
        raise Rejection("missing_attribute", "specversion is required")
    if attributes["specversion"] != "1.0":
        raise Rejection("bad_specversion", f"specversion {attributes['specversion']!r} is not 1.0")
    for name in ("id", "source", "type", "data"):
        if attributes.get(name) is None:
            raise Rejection("missing_attribute", f"{name} is required")
    kind = attributes["type"]
    if not isinstance(kind, str):
        raise Rejection("bad_attribute", "type must be a string")
    if kind not in accepted:
        outbound = " (an outbound type)" if kind in EVENT_CLASSES else ""
        raise Rejection("unknown_type", f"type {kind!r} is not accepted here{outbound}")
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not _JSON_CONTENT_TYPE.fullmatch(str(content_type)):
        raise Rejection("bad_content_type", f"datacontenttype must be {JSON_CONTENT_TYPE} (UTF-8)")


def _rejection(error: ValidationError) -> Rejection:
    """The first pydantic error as a rejection: ``schema`` inside data, else ``bad_attribute``."""
    first = error.errors(include_url=False, include_input=False)[0]
    # The discriminated union puts the type tag first in the location; drop it.
    location = [str(part) for part in first["loc"][1:]]
    where = ".".join(location) or "event"
    more = error.error_count() - 1
    suffix = f" (and {more} more)" if more else ""
    code = "schema" if location[:1] == ["data"] else "bad_attribute"
    return Rejection(code, f"{where}: {_message(first)}{suffix}")


def _message(error: ErrorDetails) -> str:
    if error["type"] == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        return PATTERN_HINTS.get(pattern, error["msg"])
    return error["msg"]


def _check_identity(event: Event, partitionkey: Any) -> str:
    """The event's key; refuses a subject or partitionkey that names something else."""
    expected = event_key(event)
    if event.subject is not None and event.subject != expected:
        raise Rejection("bad_attribute", f"subject {event.subject!r} is not {expected!r}")
    if partitionkey is not None and partitionkey != expected:
        raise Rejection("key_mismatch", f"partitionkey {partitionkey!r} is not {expected!r}")
    return expected


def encode(event: Event, *, mode: Literal["binary", "structured"] = "binary") -> OutboundRecord:
    """The Kafka record for ``event`` in the given CloudEvents content mode.

    An event without ``time`` gets the current time, as the SDK gives it; ``new_event`` always
    sets it.
    """
    key = event_key(event)
    attributes = to_wire(event)
    data = attributes.pop("data")
    attributes.setdefault("datacontenttype", JSON_CONTENT_TYPE)
    if event.time is not None:
        attributes["time"] = event.time  # the SDK wants a datetime, and formats it
    if mode == "binary":
        # The binding's headers are strings: CloudEvents writes booleans as true/false.
        attributes.update({name: _header_text(v) for name, v in event.extensions.items()})
        return OutboundRecord(
            key=key.encode(), value=_json_bytes(data), headers=_headers(attributes)
        )
    cloud_event = CloudEvent(attributes, data)
    message = ce_kafka.to_structured(cloud_event, JSONFormat(), key_mapper=lambda _: key)
    headers = tuple((name, value) for name, value in message.headers.items())
    return OutboundRecord(key=key.encode(), value=message.value, headers=headers)


def _headers(attributes: dict[str, Any]) -> tuple[tuple[str, bytes], ...]:
    """Binary mode's headers, exactly as the SDK's ``to_binary`` writes them.

    Written out here because the SDK's event object re-validates every
    attribute the models already validated, which tripled the cost of each
    status event the outbox publishes; ``test_codec_encode`` checks that the
    bytes stay the SDK's.
    """
    if "time" not in attributes:
        attributes["time"] = datetime.now(UTC)  # as the SDK's event does, last
    headers: list[tuple[str, bytes]] = []
    for name, value in attributes.items():
        if value is None:
            continue
        if name == "datacontenttype":
            headers.append(("content-type", str(value).encode()))
        elif isinstance(value, datetime):
            headers.append((f"ce_{name}", _timestamp(value).encode()))
        else:
            headers.append((f"ce_{name}", str(value).encode()))
    return tuple(headers)


def _timestamp(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json_bytes(data: Any) -> bytes:
    """A binary-mode record's value: the data as JSON, as the SDK's ``JSONFormat`` writes it."""
    return json.dumps(data).encode()


def _header_text(value: bool | int | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def new_event(
    data: EventData,
    *,
    source: str,
    id: str | None = None,  # the CloudEvents attribute's name, shadowing the builtin
    time: datetime | None = None,
    extensions: dict[str, bool | int | str] | None = None,
) -> Event:
    """A new event carrying ``data``; its type follows from the data's class.

    ``id`` defaults to a random UUID and ``time`` to now (UTC); ``subject`` is the
    system (or node) id. Raises ``Rejection`` (bad_attribute) for a bad source or id.
    """
    kind = DATA_TYPES[type(data)]
    fields = {
        "specversion": "1.0",
        "type": kind.value,
        "id": id if id is not None else str(uuid.uuid4()),
        "source": source,
        "time": time if time is not None else datetime.now(UTC),
        "subject": data_key(data),
        "datacontenttype": JSON_CONTENT_TYPE,
        "data": data,
        "extensions": extensions or {},
    }
    try:
        return EVENT_CLASSES[kind].model_validate(fields)
    except ValidationError as error:
        raise Rejection("bad_attribute", _first_error(error)) from None


def _first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {_message(first)}"


def content_id(data: EventData) -> str:
    """An event id derived from the type and the data alone: republishing repeats it.

    SHA-256 of the canonical JSON (sorted keys, no spaces, absent fields left out), as 64
    hex digits. Leaving out what is None keeps the ids of records written before an
    optional field was added (``data_class``): republishing them is still a duplicate.
    """
    canonical = json.dumps(
        data.model_dump(mode="json", exclude_none=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    kind = DATA_TYPES[type(data)].value
    return hashlib.sha256(f"{kind}\n{canonical}".encode()).hexdigest()
