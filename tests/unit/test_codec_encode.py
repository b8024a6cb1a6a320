"""Encoding: both CloudEvents Kafka modes round-trip, and agree with the cloudevents SDK."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from orchestrator.events import (
    Event,
    EventType,
    KafkaRecord,
    Rejection,
    content_id,
    decode,
    decode_any,
    encode,
    new_event,
)
from orchestrator.events.data import (
    IntakeResumeRequested,
    MigrationApproved,
    MigrationCancelRequested,
    MigrationFinalizeRequested,
    MigrationRehearsalRequested,
    MigrationRejected,
    MigrationRequested,
    MigrationRetryRequested,
    MigrationRevertRequested,
    MigrationRollbackRequested,
    MigrationScheduled,
    NodeState,
    NodeTotals,
    NodeUpdated,
    PlatformConnected,
    PlatformDisconnected,
    RequestRefused,
    SystemStatusChanged,
    WaveResumeRequested,
    WaveStatusChanged,
)
from orchestrator.events.envelope import DATA_TYPES, EventData, to_wire
from orchestrator.inventory.models import BusinessSystem, SourceLocation

CST = timezone(timedelta(hours=8))
AT = datetime(2025, 3, 3, 10, 0, 0, 123000, tzinfo=CST)
SYSTEM = BusinessSystem(
    id="shantou-bdcdj",
    name="不动产登记信息平台",
    city="shantou",
    department="汕头市自然资源局",
    vcpu=16,
    memory_gb=64,
    storage_gb=2000,
    source=SourceLocation(city="shantou", site="机房A", host="bdcdj.st.gd.gov.cn"),
)
DATA: dict[str, EventData] = {
    "registered": SYSTEM,
    "requested": MigrationRequested(
        system_id="shantou-bdcdj", target_node="shantou", wave=2, requested_by="张伟"
    ),
    "cancel": MigrationCancelRequested(
        system_id="shantou-bdcdj", requested_by="ops", reason="推迟"
    ),
    "retry": MigrationRetryRequested(system_id="shantou-bdcdj", requested_by="ops"),
    "rollback": MigrationRollbackRequested(system_id="shantou-bdcdj", requested_by="ops"),
    "revert": MigrationRevertRequested(system_id="shantou-bdcdj", requested_by="ops"),
    "rehearse": MigrationRehearsalRequested(system_id="shantou-bdcdj", requested_by="ops"),
    "finalize": MigrationFinalizeRequested(system_id="shantou-bdcdj", requested_by="ops"),
    "approve": MigrationApproved(
        system_id="shantou-bdcdj", change_ref="CHG-2041", comment="演练通过", approved_by="李"
    ),
    "reject": MigrationRejected(system_id="shantou-bdcdj", change_ref="CHG-2041", rejected_by="李"),
    "schedule": MigrationScheduled(
        system_id="shantou-bdcdj",
        at=datetime(2027, 1, 9, 1, 0, tzinfo=timezone(timedelta(hours=8))),
        scheduled_by="李",
    ),
    "node": NodeUpdated(node_id="shanwei", state=NodeState.DRAINING, allocation_ratio_memory=1.5),
    "platform": PlatformConnected(
        platform_id="guangzhou",
        capacity=NodeTotals(vcpu=8000, memory_gb=24000, storage_gb=800000),
        hosts=("gz-1", "gz-2"),
        requested_by="ops",
    ),
    "platform off": PlatformDisconnected(platform_id="guangzhou", requested_by="ops"),
    "intake": IntakeResumeRequested(requested_by="ops", reason="producer fixed"),
    "wave": WaveResumeRequested(wave=2, requested_by="ops", reason="两个回退已查明"),
    "status": SystemStatusChanged(
        system_id="shantou-bdcdj",
        from_state="placed",
        to_state="preflight",
        node="shantou",
        phase="preflight",
        caused_by="6f1c2a4e-3b7d-4e59-9a0c-1d2e3f405162",
        requested_by="ops",
        at=AT,
    ),
    "refused": RequestRefused(
        system_id="shantou-bdcdj",
        state="cutover",
        request="cancel",
        reason="cannot cancel: system is cutover",
        requested_by="ops",
        caused_by="6f1c2a4e-3b7d-4e59-9a0c-1d2e3f405162",
        at=AT,
    ),
    "wave status": WaveStatusChanged(
        wave=2, state="halted", reason="1 of 4 rolled back or failed (25%), over 20%", at=AT
    ),
}
Mode = Literal["binary", "structured"]
MODES: list[Mode] = ["binary", "structured"]


def make(data: EventData, **extensions: bool | int | str) -> Event:
    return new_event(data, source="/govmig/cli", time=AT, extensions=extensions)


def consumed(event: Event, mode: Mode) -> KafkaRecord:
    return encode(event, mode=mode).as_record("govcloud.events", offset=41)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(DATA))
def test_every_type_round_trips_in_both_modes(name: str, mode: Mode) -> None:
    event = make(DATA[name])
    assert decode_any(consumed(event, mode)) == event


def test_new_event_derives_type_subject_and_key() -> None:
    assert {DATA_TYPES[type(data)] for data in DATA.values()} == set(EventType)
    node = make(DATA["node"])
    assert (node.type, node.subject) == ("gov.cloud.node.updated", "shanwei")
    assert encode(node).key == b"shanwei"
    platform = make(DATA["platform"])
    assert (platform.type, platform.subject) == ("gov.cloud.platform.connected", "guangzhou")
    assert encode(platform).key == b"guangzhou"
    assert encode(make(SYSTEM)).key == b"shantou-bdcdj"
    assert encode(make(DATA["wave"])).key == b"wave-2"
    wave_status = make(DATA["wave status"])
    assert (wave_status.subject, encode(wave_status).key) == ("wave-2", b"wave-2")


def test_binary_mode_has_ce_headers_and_the_data_as_value() -> None:
    record = encode(make(DATA["requested"], traceparent="00-ab-01", sampled=True))
    headers = dict(record.headers)
    assert headers["content-type"] == b"application/json"
    assert headers["ce_type"] == b"gov.cloud.migration.requested"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_subject"] == b"shantou-bdcdj"
    assert headers["ce_time"] == b"2025-03-03T10:00:00.123000+08:00"
    assert headers["ce_sampled"] == b"true"  # CloudEvents' canonical boolean text
    assert json.loads(record.value)["requested_by"] == "张伟"


def _sdk_binary(event: Event) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
    """What the SDK's own ``to_binary`` writes for ``event``: the reference for ours."""
    attributes = to_wire(event)
    data = attributes.pop("data")
    attributes.setdefault("datacontenttype", "application/json")
    if event.time is not None:
        attributes["time"] = event.time
    texts = {name: str(value).lower() if isinstance(value, bool) else str(value)
             for name, value in event.extensions.items()}  # fmt: skip
    attributes.update(texts)
    message = ce_kafka.to_binary(CloudEvent(attributes, data), JSONFormat())
    return message.value, tuple(message.headers.items())


@pytest.mark.parametrize("name", list(DATA))
def test_binary_mode_writes_exactly_what_the_sdk_writes(name: str) -> None:
    event = make(DATA[name], traceparent="00-ab-01", sampled=True, hops=2)
    record = encode(event)
    assert (record.value, record.headers) == _sdk_binary(event)


def test_binary_mode_writes_utc_times_with_z_like_the_sdk() -> None:
    event = new_event(DATA["status"], source="/govmig", time=AT.astimezone(UTC))
    record = encode(event)
    assert dict(record.headers)["ce_time"] == b"2025-03-03T02:00:00.123000Z"
    assert (record.value, record.headers) == _sdk_binary(event)


def test_binary_mode_carries_extensions_as_strings() -> None:
    event = make(DATA["retry"], hops=3, sampled=False, tenant="st")
    assert decode(consumed(event, "binary")).extensions == {
        "hops": "3",
        "sampled": "false",
        "tenant": "st",
    }
    assert decode(consumed(event, "structured")).extensions == {
        "hops": 3,
        "sampled": False,
        "tenant": "st",
    }


def test_structured_mode_is_the_whole_envelope() -> None:
    record = encode(make(SYSTEM), mode="structured")
    assert record.headers == (("content-type", b"application/cloudevents+json"),)
    body = json.loads(record.value)
    assert body["type"] == "gov.cloud.system.registered"
    assert body["data"]["name"] == "不动产登记信息平台"


@pytest.mark.parametrize("mode", MODES)
def test_the_sdk_reads_what_we_write(mode: Mode) -> None:
    record = encode(make(DATA["cancel"], traceparent="00-ab-01"), mode=mode)
    message = ce_kafka.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value
    )
    sdk_event = ce_kafka.from_kafka_event(message)
    assert sdk_event.get_type() == "gov.cloud.migration.cancel_requested"
    assert sdk_event.get_subject() == "shantou-bdcdj"
    assert sdk_event.get_time() == AT
    assert sdk_event.get_extension("partitionkey") == "shantou-bdcdj"
    assert sdk_event.get_extension("traceparent") == "00-ab-01"
    assert sdk_event.get_data() == DATA["cancel"].model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize("mode", MODES)
def test_we_read_what_the_sdk_writes(mode: Mode) -> None:
    attributes = {
        "type": "gov.cloud.migration.retry_requested",
        "source": "/other/producer",
        "id": "sdk-1",
        "time": datetime(2025, 3, 3, 2, 0, tzinfo=UTC),
        "partitionkey": "shantou-bdcdj",
        "datacontenttype": "application/json",
    }
    sdk_event = CloudEvent(attributes, {"system_id": "shantou-bdcdj", "requested_by": "ops"})
    convert = ce_kafka.to_binary_event if mode == "binary" else ce_kafka.to_structured_event
    message = convert(sdk_event)
    assert isinstance(message.key, str)
    headers = tuple(message.headers.items())
    record = KafkaRecord("govcloud.events", 0, 0, message.key.encode(), message.value, headers)
    event = decode(record)
    assert event.type == "gov.cloud.migration.retry_requested"
    assert event.data == DATA["retry"]
    assert event.time == attributes["time"]


def test_content_id_depends_on_the_content_alone() -> None:
    again = BusinessSystem.model_validate(SYSTEM.model_dump())
    assert content_id(again) == content_id(SYSTEM)
    assert len(content_id(SYSTEM)) == 64
    assert content_id(SYSTEM.model_copy(update={"vcpu": 17})) != content_id(SYSTEM)
    first = new_event(SYSTEM, source="/cmdb/a", id=content_id(SYSTEM))
    second = new_event(again, source="/cmdb/a", id=content_id(again))
    assert first.id == second.id


def test_an_optional_field_left_out_keeps_the_id_records_had_before_it_existed() -> None:
    # The id of SYSTEM before ``data_class`` was added to the record: republishing an
    # unchanged file after the upgrade is still a duplicate.
    assert SYSTEM.data_class is None
    assert content_id(SYSTEM) == "2c1b7e606d079fd713e63912d51e4525c797052a6bcba17f15ed5b763b39141c"
    assert content_id(SYSTEM.model_copy(update={"data_class": "personal"})) != content_id(SYSTEM)


def test_new_event_defaults_a_fresh_id_and_the_current_time() -> None:
    before = datetime.now(UTC)
    first, second = make(SYSTEM), new_event(SYSTEM, source="/cmdb/a")
    assert first.id != second.id
    assert second.time is not None
    assert second.time >= before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"source": "has space"}, "source"),
        ({"id": "a/b"}, "id"),
        ({"extensions": {"Bad": "x"}}, "extensions"),
        ({"extensions": {"data": "x"}}, "extensions"),
    ],
    ids=["source", "id", "extension name", "extension shadows data"],
)
def test_new_event_refuses_bad_attributes(changes: dict[str, object], field: str) -> None:
    with pytest.raises(Rejection) as caught:
        new_event(SYSTEM, **{"source": "/cmdb/a", **changes})  # type: ignore[arg-type]
    assert caught.value.code == "bad_attribute"
    assert caught.value.message.startswith(field)


def test_to_wire_puts_extensions_beside_the_attributes() -> None:
    wire = to_wire(make(DATA["retry"], tenant="st"))
    assert wire["tenant"] == "st"
    assert "extensions" not in wire
