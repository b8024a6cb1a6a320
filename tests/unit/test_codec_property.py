"""Property tests: ``decode`` raises nothing but ``Rejection``, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from orchestrator.events import KafkaRecord, Rejection, decode, encode, new_event
from orchestrator.events.data import MigrationRequested
from orchestrator.events.fields import ACTOR_PATTERN
from orchestrator.events.reasons import REASON_CODES
from orchestrator.inventory.models import SLUG_PATTERN, SYSTEM_ID_PATTERN

HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "content-type",
            "Content-Type",
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_time",
            "ce_subject",
            "ce_partitionkey",
            "ce_data",
            "ce_traceparent",
            "CE_TYPE",
        ]
    ),
    st.text(max_size=30),
)
HEADER_VALUES = st.one_of(
    st.sampled_from(
        [
            b"application/cloudevents+json",
            b"application/json",
            b"1.0",
            b"gov.cloud.migration.requested",
            b"gov.cloud.system.registered",
            b"2025-03-03T10:00:00Z",
            b"/govmig/cli",
        ]
    ),
    st.text(max_size=30).map(str.encode),
    st.binary(max_size=64),
)
HEADERS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12).map(tuple)

# JSON-shaped values, so the search also reaches the attribute and data checks.
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
ENVELOPES = st.fixed_dictionaries(
    {
        "specversion": st.sampled_from(["1.0", "0.3", 1]),
        "id": st.sampled_from(["e-1", "", "a b"]) | st.text(max_size=10),
        "source": st.sampled_from(["/govmig/cli", "", "a b"]),
        "type": st.sampled_from(
            ["gov.cloud.migration.requested", "gov.cloud.system.registered", "x.y"]
        ),
        "data": st.fixed_dictionaries(
            {"system_id": st.sampled_from(["shantou-bdcdj", "x/y"])},
            optional={"requested_by": JSON_VALUES, "wave": JSON_VALUES, "vcpu": JSON_VALUES},
        )
        | JSON_VALUES,
    },
    optional={"time": JSON_VALUES, "subject": JSON_VALUES, "ext": JSON_VALUES},
)
VALUES = st.one_of(
    st.none(),
    st.binary(max_size=512),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    ENVELOPES.map(lambda value: json.dumps(value).encode()),
    ENVELOPES.map(lambda value: json.dumps(value).encode()),
)
KEYS = st.one_of(
    st.none(),
    st.just(b"shantou-bdcdj"),
    st.text(max_size=70).map(str.encode),
    st.binary(max_size=70),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEYS, value=VALUES, headers=HEADERS)
def test_decode_raises_only_rejections(
    key: bytes | None, value: bytes | None, headers: tuple[tuple[str, bytes], ...]
) -> None:
    record = KafkaRecord("govcloud.events", 0, 0, key, value, headers)
    outcome = "decoded"
    try:
        decode(record, max_bytes=4096)
    except Rejection as rejection:
        assert rejection.message.isprintable(), rejection.message  # noqa: PT017
        outcome = rejection.code
    event(outcome)  # shown by --hypothesis-show-statistics: which checks the search reached
    assert outcome == "decoded" or outcome in REASON_CODES


REQUESTS = st.builds(
    MigrationRequested,
    system_id=st.from_regex(SYSTEM_ID_PATTERN, fullmatch=True),
    target_node=st.none() | st.from_regex(SLUG_PATTERN, fullmatch=True),
    wave=st.none() | st.integers(1, 999),
    requested_by=st.from_regex(ACTOR_PATTERN, fullmatch=True),
)


@settings(max_examples=150)
@given(data=REQUESTS, structured=st.booleans())
def test_valid_requests_round_trip(data: MigrationRequested, structured: bool) -> None:
    event = new_event(data, source="/govmig/cli")
    record = encode(event, mode="structured" if structured else "binary")
    assert decode(record.as_record("govcloud.events")) == event
