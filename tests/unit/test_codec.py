"""The Kafka codec: every kind of bad input gets its exact reason code; good input decodes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.events import KafkaRecord, KnownIds, Rejection, decode, decode_any, event_key
from orchestrator.events.reasons import REASON_CODES

SYSTEM = "shantou-bdcdj"
KNOWN = KnownIds(
    cities=frozenset({"shantou", "guangzhou"}),
    nodes=frozenset({"shantou", "shanwei"}),
    platforms={"guangzhou": "guangzhou"},
    systems=frozenset({SYSTEM}),
    data_classes=frozenset({"personal"}),
)


def registered_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": SYSTEM,
        "name": "不动产登记信息平台",
        "city": "shantou",
        "department": "汕头市自然资源局",
        "vcpu": 16,
        "memory_gb": 64,
        "storage_gb": 2000,
        "source": {"city": "shantou", "site": "机房A", "host": "bdcdj.st.gd.gov.cn"},
        "depends_on": ["shantou-tyrz"],
        "criticality": "high",
    }
    data.update(changes)
    return data


def envelope(kind: str = "gov.cloud.system.registered", **changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "specversion": "1.0",
        "id": "6f1c2a4e-3b7d-4e59-9a0c-1d2e3f405162",
        "source": "/cmdb/shantou",
        "type": kind,
        "time": "2025-03-03T09:00:00+08:00",
        "data": registered_data(),
    }
    wire.update(changes)
    return {name: value for name, value in wire.items() if value is not DROP}


def requested(**data: Any) -> dict[str, Any]:
    body = {"system_id": SYSTEM, "requested_by": "ops.zhangwei", **data}
    return envelope("gov.cloud.migration.requested", source="/govmig/cli", data=body)


def node_update(**data: Any) -> dict[str, Any]:
    return envelope("gov.cloud.node.updated", data={"node_id": "shanwei", **data})


def platform_connected(**data: Any) -> dict[str, Any]:
    capacity = {"vcpu": 8000, "memory_gb": 24000, "storage_gb": 800000}
    body = {"platform_id": "guangzhou", "capacity": capacity, **data}
    return envelope("gov.cloud.platform.connected", source="/govmig/cli", data=body)


DROP: Any = object()  # marks an attribute to leave out of ``envelope``


def structured(
    wire: dict[str, Any] | bytes | None,
    *,
    key: bytes | None = SYSTEM.encode(),
    content_type: bytes = b"application/cloudevents+json",
    headers: tuple[tuple[str, bytes], ...] = (),
) -> KafkaRecord:
    value = wire if isinstance(wire, bytes | None) else json.dumps(wire).encode()
    return KafkaRecord(
        "govcloud.events", 0, 7, key, value, (("content-type", content_type), *headers)
    )


def binary(
    attributes: dict[str, str] | None = None,
    data: Any = None,
    *,
    key: bytes | None = SYSTEM.encode(),
    extra: tuple[tuple[str, bytes], ...] = (),
    value: bytes | None = None,
) -> KafkaRecord:
    attrs = {
        "specversion": "1.0",
        "id": "b-1",
        "source": "/cmdb/shantou",
        "type": "gov.cloud.system.registered",
        **(attributes or {}),
    }
    headers = tuple((f"ce_{name}", text.encode()) for name, text in attrs.items() if text)
    if value is None:
        value = json.dumps(registered_data() if data is None else data).encode()
    return KafkaRecord(
        "govcloud.events",
        0,
        7,
        key,
        value,
        (("content-type", b"application/json"), *headers, *extra),
    )


def no_content_type(record: KafkaRecord) -> KafkaRecord:
    headers = tuple(h for h in record.headers if h[0] != "content-type")
    return KafkaRecord(record.topic, 0, 0, record.key, record.value, headers)


def text_plain(record: KafkaRecord) -> KafkaRecord:
    headers = (("content-type", b"text/plain"), *no_content_type(record).headers)
    return KafkaRecord(record.topic, 0, 0, record.key, record.value, headers)


BAD: list[tuple[str, Callable[[], KafkaRecord], str]] = [
    ("oversized value", lambda: structured(b"{" + b" " * 300_000 + b"}"), "too_large"),
    ("oversized headers", lambda: binary(extra=(("x-pad", b"p" * 270_000),)), "too_large"),
    ("tombstone", lambda: structured(None), "empty"),
    ("empty binary value", lambda: binary(value=b""), "empty"),
    ("value not utf-8", lambda: structured(b'{"id": "\xff\xfe"}'), "bad_encoding"),
    ("key not utf-8", lambda: structured(envelope(), key=b"\xc3\x28"), "bad_encoding"),
    ("header not utf-8", lambda: binary(extra=(("ce_subject", b"\xff"),)), "bad_encoding"),
    ("syntax error", lambda: structured(b'{"specversion": "1.0",'), "not_json"),
    ("NaN", lambda: structured(b'{"specversion": NaN}'), "not_json"),
    ("float overflow", lambda: structured(b'{"specversion": 1e999}'), "not_json"),
    ("integer too long", lambda: structured(b'{"n": ' + b"9" * 5000 + b"}"), "not_json"),
    ("duplicate key", lambda: structured(b'{"id": "a", "id": "b"}'), "not_json"),
    ("nesting bomb", lambda: structured(b"[" * 100_000), "not_json"),
    ("trailing garbage", lambda: structured(json.dumps(envelope()).encode() + b"x"), "not_json"),
    ("envelope is an array", lambda: structured(b"[1, 2]"), "not_object"),
    ("binary data is a string", lambda: binary(data="hello"), "not_object"),
    (
        "batch content type",
        lambda: structured(envelope(), content_type=b"application/cloudevents-batch+json"),
        "bad_content_type",
    ),
    ("binary text/plain", lambda: text_plain(binary()), "bad_content_type"),
    (
        "datacontenttype xml",
        lambda: structured(envelope(datacontenttype="text/xml")),
        "bad_content_type",
    ),
    (
        "data_base64",
        lambda: structured(envelope(data=DROP, data_base64="e30=")),
        "bad_content_type",
    ),
    ("no specversion", lambda: structured(envelope(specversion=DROP)), "missing_attribute"),
    ("no id", lambda: structured(envelope(id=DROP)), "missing_attribute"),
    ("no source", lambda: structured(envelope(source=DROP)), "missing_attribute"),
    ("no type", lambda: structured(envelope(type=DROP)), "missing_attribute"),
    ("no data", lambda: structured(envelope(data=DROP)), "missing_attribute"),
    ("null data", lambda: structured(envelope(data=None)), "missing_attribute"),
    ("binary without ce_source", lambda: binary({"source": ""}), "missing_attribute"),
    ("specversion 0.3", lambda: structured(envelope(specversion="0.3")), "bad_specversion"),
    ("specversion number", lambda: structured(envelope(specversion=1.0)), "bad_specversion"),
    ("foreign type", lambda: structured(envelope("com.example.order.created")), "unknown_type"),
    (
        "outbound type sent inbound",
        lambda: structured(envelope("gov.cloud.system.status_changed")),
        "unknown_type",
    ),
    ("type is a number", lambda: structured(envelope(type=5)), "bad_attribute"),
    ("id with a space", lambda: structured(envelope(id="a b")), "bad_attribute"),
    ("id with a path", lambda: structured(envelope(id="../../etc/passwd")), "bad_attribute"),
    ("id too long", lambda: structured(envelope(id="a" * 129)), "bad_attribute"),
    ("source with a quote", lambda: structured(envelope(source="/a'b")), "bad_attribute"),
    ("time not RFC 3339", lambda: structured(envelope(time="yesterday")), "bad_attribute"),
    ("time as unix seconds", lambda: structured(envelope(time=1740963600)), "bad_attribute"),
    (
        "time without offset",
        lambda: structured(envelope(time="2025-03-03T09:00:00")),
        "bad_attribute",
    ),
    ("time date only", lambda: structured(envelope(time="2025-03-03")), "bad_attribute"),
    ("time Feb 30", lambda: structured(envelope(time="2025-02-30T09:00:00Z")), "bad_attribute"),
    ("extension name uppercase", lambda: structured(envelope(TraceParent="x")), "bad_attribute"),
    ("extension value object", lambda: structured(envelope(tenant={"a": 1})), "bad_attribute"),
    ("extension value null", lambda: structured(envelope(tenant=None)), "bad_attribute"),
    (
        "too many extensions",
        lambda: structured(envelope(**{f"ext{i}": "v" for i in range(17)})),
        "bad_attribute",
    ),
    ("repeated ce_id header", lambda: binary(extra=(("ce_id", b"b-2"),)), "bad_attribute"),
    ("ce_data header", lambda: binary(extra=(("ce_data", b"{}"),)), "bad_attribute"),
    (
        "subject names another system",
        lambda: structured(envelope(subject="other")),
        "bad_attribute",
    ),
    ("vcpu zero", lambda: structured(envelope(data=registered_data(vcpu=0))), "schema"),
    ("vcpu as a string", lambda: structured(envelope(data=registered_data(vcpu="16"))), "schema"),
    ("vcpu as a float", lambda: structured(envelope(data=registered_data(vcpu=16.0))), "schema"),
    ("vcpu absurd", lambda: structured(envelope(data=registered_data(vcpu=10**9))), "schema"),
    (
        "storage negative",
        lambda: structured(envelope(data=registered_data(storage_gb=-1))),
        "schema",
    ),
    (
        "unknown data field",
        lambda: structured(envelope(data=registered_data(playbook="x.yml"))),
        "schema",
    ),
    (
        "system id with a path",
        lambda: structured(envelope(data=registered_data(id="../x"))),
        "schema",
    ),
    (
        "system id with Jinja",
        lambda: structured(envelope(data=registered_data(id="{{x}}"))),
        "schema",
    ),
    (
        "name with a newline",
        lambda: structured(envelope(data=registered_data(name="a\nb"))),
        "schema",
    ),
    ("requested_by shell", lambda: structured(requested(requested_by="$(reboot)")), "schema"),
    ("requested_by newline", lambda: structured(requested(requested_by="a\u2028b")), "schema"),
    ("requested_by too long", lambda: structured(requested(requested_by="a" * 65)), "schema"),
    ("requested_by missing", lambda: structured(requested(requested_by=None)), "schema"),
    ("wave zero", lambda: structured(requested(wave=0)), "schema"),
    ("target node path", lambda: structured(requested(target_node="/etc")), "schema"),
    (
        "node update changes nothing",
        lambda: structured(node_update(), key=b"shanwei"),
        "schema",
    ),
    (
        "node reserved above capacity",
        lambda: structured(
            node_update(
                capacity={"vcpu": 10, "memory_gb": 10, "storage_gb": 10},
                reserved={"vcpu": 11, "memory_gb": 1, "storage_gb": 1},
            ),
            key=b"shanwei",
        ),
        "schema",
    ),
    ("node state unknown", lambda: structured(node_update(state="gone"), key=b"shanwei"), "schema"),
    (
        "ratio infinite",
        lambda: structured(node_update(allocation_ratio_vcpu=1e308 * 10), key=b"shanwei"),
        "not_json",
    ),
    (
        "ratio too high",
        lambda: structured(node_update(allocation_ratio_vcpu=17), key=b"shanwei"),
        "schema",
    ),
    (
        "platform capacity negative",
        lambda: structured(
            platform_connected(capacity={"vcpu": -1, "memory_gb": 10, "storage_gb": 10}),
            key=b"guangzhou",
        ),
        "schema",
    ),
    (
        "platform capacity zero",
        lambda: structured(
            platform_connected(capacity={"vcpu": 8, "memory_gb": 0, "storage_gb": 10}),
            key=b"guangzhou",
        ),
        "schema",
    ),
    (
        "platform reserved above capacity",
        lambda: structured(
            platform_connected(reserved={"vcpu": 8001, "memory_gb": 0, "storage_gb": 0}),
            key=b"guangzhou",
        ),
        "schema",
    ),
    (
        "platform host not a DNS label",
        lambda: structured(platform_connected(hosts=["gz_1"]), key=b"guangzhou"),
        "schema",
    ),
    (
        "platform keyed by another id",
        lambda: structured(platform_connected(), key=b"shantou"),
        "key_mismatch",
    ),
    ("key names another system", lambda: structured(envelope(), key=b"other"), "key_mismatch"),
    ("no key", lambda: structured(envelope(), key=None), "key_mismatch"),
    ("partitionkey differs", lambda: structured(envelope(partitionkey="other")), "key_mismatch"),
    ("binary key differs", lambda: binary(key=b"x"), "key_mismatch"),
]
REFERENCES: list[tuple[str, Callable[[], KafkaRecord], str]] = [
    (
        "unknown city",
        lambda: structured(envelope(data=registered_data(city="atlantis"))),
        "unknown_city",
    ),
    (
        "unknown source city",
        lambda: structured(
            envelope(data=registered_data(source={"city": "atlantis", "site": "s", "host": "h"}))
        ),
        "unknown_city",
    ),
    (
        "data class no residency rule names",
        lambda: structured(envelope(data=registered_data(data_class="secret"))),
        "unknown_data_class",
    ),
    ("unknown target node", lambda: structured(requested(target_node="guangzhou")), "unknown_node"),
    (
        "unknown node update",
        lambda: structured(node_update(state="draining", node_id="x1"), key=b"x1"),
        "unknown_node",
    ),
    (
        "unknown platform",
        lambda: structured(platform_connected(platform_id="atlantis"), key=b"atlantis"),
        "unknown_platform",
    ),
    (
        "a city node named as a platform",
        lambda: structured(platform_connected(platform_id="shantou"), key=b"shantou"),
        "unknown_platform",
    ),
    (
        "unknown system",
        lambda: structured(
            requested(system_id="nobody"),
            key=b"nobody",
        ),
        "unknown_system",
    ),
]


@pytest.mark.parametrize(("make", "code"), [(m, c) for _, m, c in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_is_rejected_with_its_reason(make: Callable[[], KafkaRecord], code: str) -> None:
    with pytest.raises(Rejection) as caught:
        decode(make())
    assert caught.value.code == code, caught.value.message
    assert caught.value.message.isprintable()
    assert len(caught.value.message) <= 301


@pytest.mark.parametrize(
    ("make", "code"), [(m, c) for _, m, c in REFERENCES], ids=[i for i, _, _ in REFERENCES]
)
def test_dangling_ids_are_rejected_given_the_known_ids(
    make: Callable[[], KafkaRecord], code: str
) -> None:
    decode(make())  # well formed: only the inventory knows these ids do not exist
    with pytest.raises(Rejection) as caught:
        decode(make(), known=KNOWN)
    assert caught.value.code == code


def test_a_data_class_no_rule_names_is_refused_with_its_reason() -> None:
    record = structured(envelope(data=registered_data(data_class="secret")))
    with pytest.raises(Rejection) as caught:
        decode(record, known=KNOWN)
    assert str(caught.value) == "unknown_data_class: no residency rule for data class 'secret'"
    decode(structured(envelope(data=registered_data(data_class="personal"))), known=KNOWN)


def test_the_table_covers_every_input_reason_code() -> None:
    covered = {code for _, _, code in BAD + REFERENCES}
    # Raised by the store, the state machine and the reactor's poison-event isolation.
    later = {
        "duplicate",
        "illegal_transition",
        "unprocessable",
        "platform_in_use",
        "platform_not_connected",
    }
    assert covered == set(REASON_CODES) - later


def test_the_size_limit_is_configurable() -> None:
    record = structured(envelope())
    assert event_key(decode(record)) == SYSTEM
    with pytest.raises(Rejection, match="too_large"):
        decode(record, max_bytes=100)


def test_hostile_names_are_escaped_in_the_message() -> None:
    record = structured(envelope(data=registered_data(**{"\x1b[31mred\u202e": 1})))
    with pytest.raises(Rejection) as caught:
        decode(record)
    assert caught.value.code == "schema"
    assert "\\x1b[31mred\\u202e" in caught.value.message


def test_a_pattern_failure_says_what_is_expected_in_words() -> None:
    with pytest.raises(Rejection) as caught:
        decode(structured(requested(requested_by="a;b")))
    assert caught.value.message.startswith("data.requested_by: must be one line of 1-64")


def test_structured_mode_decodes_and_keeps_extensions_apart() -> None:
    wire = envelope(traceparent="00-abc-01", sampled=True, hops=3, partitionkey=SYSTEM)
    event = decode(structured(wire))
    assert event.type == "gov.cloud.system.registered"
    assert event.extensions == {"traceparent": "00-abc-01", "sampled": True, "hops": 3}
    assert event.partitionkey == SYSTEM
    assert event.data.vcpu == 16


def test_binary_mode_decodes_headers_into_attributes() -> None:
    record = binary(
        {"time": "2025-03-03T01:00:00Z", "subject": SYSTEM},
        extra=(("ce_traceparent", b"00-abc-01"), ("x-trace", b"ignored")),
    )
    event = decode(record)
    assert (event.id, event.source, event.subject) == ("b-1", "/cmdb/shantou", SYSTEM)
    assert event.time is not None
    assert event.time.isoformat() == "2025-03-03T01:00:00+00:00"
    assert event.datacontenttype == "application/json"
    assert event.extensions == {"traceparent": "00-abc-01"}  # x-trace is transport metadata


def test_header_names_are_matched_without_case() -> None:
    record = binary()
    shouted = tuple((name.upper(), value) for name, value in record.headers)
    assert decode(KafkaRecord("t", 0, 0, record.key, record.value, shouted)).id == "b-1"


def test_a_message_without_headers_is_read_as_structured_json() -> None:
    assert event_key(decode(no_content_type(structured(envelope())))) == SYSTEM


def test_node_updates_are_keyed_by_node() -> None:
    event = decode(structured(node_update(state="draining"), key=b"shanwei"), known=KNOWN)
    assert event.type == "gov.cloud.node.updated"
    assert event.data.state == "draining"


def test_decode_any_accepts_the_outbound_type() -> None:
    data = {"system_id": SYSTEM, "to_state": "queued", "at": "2025-03-03T10:00:00Z"}
    event = decode_any(structured(envelope("gov.cloud.system.status_changed", data=data)))
    assert event.type == "gov.cloud.system.status_changed"
    assert event.data.from_state is None


def test_a_rejection_is_a_permanent_error_and_pickles() -> None:
    import pickle

    from orchestrator.errors import PermanentError

    rejection = Rejection("schema", "data.vcpu: bad")
    assert isinstance(rejection, PermanentError)
    copy = pickle.loads(pickle.dumps(rejection))
    assert (copy.code, copy.message, str(copy)) == (
        "schema",
        "data.vcpu: bad",
        "schema: data.vcpu: bad",
    )
    with pytest.raises(ValueError, match="unknown reason code"):
        Rejection("nope", "x")


def test_a_non_utf8_charset_is_a_content_type_problem() -> None:
    record = binary()
    headers = tuple(
        (name, b"application/json; charset=latin-1" if name == "content-type" else value)
        for name, value in record.headers
    )
    with pytest.raises(Rejection) as caught:
        decode(KafkaRecord("t", 0, 0, record.key, record.value, headers))
    assert caught.value.code == "bad_content_type"
