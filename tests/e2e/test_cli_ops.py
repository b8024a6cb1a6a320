"""``govmig migrate|cancel|retry|rollback|revert|...`` as an operator runs them, on a real broker.

Each test runs ``govmig`` through its entry point (``tests.fixtures.cli``) against the
session's Kafka broker, then reads the topic back and decodes what arrived. Bad input must be
refused before anything is sent, so those tests also check the topic is empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orchestrator.bus import read_topic
from orchestrator.events import InboundEvent, decode
from orchestrator.inventory.loader import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from orchestrator.store import open_store, seed_nodes
from orchestrator.store import waves as wave_store
from tests.fixtures.cli import govmig
from tests.fixtures.seeding import drive

pytestmark = pytest.mark.kafka

REGISTERED = ("shantou-psb-001", "shantou-psb-002")


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """A state database in which two catalogue systems are registered."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    inventory = load_inventory()
    systems = {system.id: system for system in load_systems(DEFAULT_CATALOGUE, inventory)}
    with open_store(url) as store, store.transaction() as session:
        seed_nodes(session, inventory.nodes.values())
        for system_id in REGISTERED:
            drive(session, systems[system_id], SystemState.REGISTERED)
    return url


@pytest.fixture
def topic(new_topic: Callable[..., str]) -> str:
    return new_topic("ops.events")


def received(bootstrap: str, topic: str) -> list[tuple[bytes | None, InboundEvent]]:
    """Every record of ``topic``, decoded, with its Kafka key."""
    records = read_topic(KafkaSettings(bootstrap_servers=bootstrap), topic)
    return [(record.key, decode(record)) for record in records]


def kafka(bootstrap: str, topic: str) -> list[str]:
    return ["--bootstrap-servers", bootstrap, "--events-topic", topic]


def test_migrate_publishes_one_acknowledged_request_per_system(
    kafka_bootstrap: str, topic: str, state_db: str, tmp_path: Path
) -> None:
    result = govmig(
        "migrate", *REGISTERED, "--to", "shaoguan", "--wave", "2", "--requested-by", "alice",
        "--state-db", state_db, "--output", "json", *kafka(kafka_bootstrap, topic),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert (printed["topic"], printed["sent"]) == (topic, 2)
    events = received(kafka_bootstrap, topic)
    by_id = {event.id: (key, event) for key, event in events}
    assert sorted(by_id) == sorted(row["id"] for row in printed["events"])
    for row in printed["events"]:
        key, event = by_id[row["id"]]
        data: dict[str, Any] = event.data.model_dump(mode="json")
        assert event.type == row["type"] == "gov.cloud.migration.requested"
        assert key == row["system_id"].encode()
        assert data == {
            "system_id": row["system_id"],
            "target_node": "shaoguan",
            "wave": 2,
            "requested_by": "alice",
            "reason": None,
            "change_ref": None,
        }
    assert sorted(row["system_id"] for row in printed["events"]) == sorted(REGISTERED)


# A request sent without --reason or --change-ref.
NO_WHY = {"reason": None, "change_ref": None}


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("cancel", "gov.cloud.migration.cancel_requested"),
        ("retry", "gov.cloud.migration.retry_requested"),
        ("rollback", "gov.cloud.migration.rollback_requested"),
        ("revert", "gov.cloud.migration.revert_requested"),
        ("rehearse", "gov.cloud.migration.rehearsal_requested"),
        ("finalize", "gov.cloud.migration.finalize_requested"),
    ],
    ids=["cancel", "retry", "rollback", "revert", "rehearse", "finalize"],
)
def test_commands_default_to_the_os_user_and_carry_the_reason_and_change(
    kafka_bootstrap: str, topic: str, state_db: str, tmp_path: Path, command: str, kind: str
) -> None:
    result = govmig(
        command, REGISTERED[0], "--reason", "change window closed", "--change-ref", "CHG-9",
        "--state-db", state_db, *kafka(kafka_bootstrap, topic), cwd=tmp_path,
        env={"LOGNAME": "ops-on-call"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [(key, event)] = received(kafka_bootstrap, topic)
    assert (key, event.type) == (REGISTERED[0].encode(), kind)
    assert event.data.model_dump() == {
        "system_id": REGISTERED[0],
        "requested_by": "ops-on-call",
        "reason": "change window closed",
        "change_ref": "CHG-9",
    }
    assert event.id in result.stdout  # the table names the event id
    assert REGISTERED[0] in result.stdout


def test_without_a_state_database_it_warns_and_sends(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.db"
    result = govmig(
        "migrate", "never-registered-1", "--state-db", f"sqlite:///{missing}",
        *kafka(kafka_bootstrap, topic), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: the system ids could not be checked" in result.stderr
    assert f"state database {missing} does not exist" in result.stderr
    assert not missing.exists()
    assert [event.subject for _, event in received(kafka_bootstrap, topic)] == [
        "never-registered-1"
    ]


def test_no_check_sends_an_unregistered_id(
    kafka_bootstrap: str, topic: str, state_db: str, tmp_path: Path
) -> None:
    result = govmig(
        "migrate", "not-in-the-store", "--no-check", "--state-db", state_db,
        *kafka(kafka_bootstrap, topic), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(received(kafka_bootstrap, topic)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["migrate", "Shantou_PSB"],
            "error: malformed system id 'Shantou_PSB': must be a system id: lowercase letters, "
            "digits and inner hyphens, 1-63",
        ),
        (
            ["migrate", "shantou-psb-001", "--to", "guangzhou"],
            "error: unknown node 'guangzhou' for --to: the city nodes are chaozhou, heyuan, "
            "huizhou, jieyang, maoming, meizhou, qingyuan, shantou, shanwei, shaoguan, "
            "yangjiang, yunfu, zhanjiang, zhaoqing",
        ),
        (["migrate", "shantou-psb-001", "--wave", "0"], "Invalid value for '--wave'"),
        (
            ["migrate", "shantou-psb-001", "shantou-psb-404"],
            "error: unknown system 'shantou-psb-404': it has not been registered "
            "(govmig inventory publish FILE)",
        ),
        (
            ["cancel", "shantou-psb-001", "--requested-by", "x; rm -rf /"],
            "error: --requested-by 'x; rm -rf /': must be one line",
        ),
    ],
    ids=["malformed-id", "unknown-node", "wave-zero", "unknown-system", "hostile-requester"],
)
def test_bad_input_is_refused_before_anything_is_sent(
    kafka_bootstrap: str,
    topic: str,
    state_db: str,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    result = govmig(*args, "--state-db", state_db, *kafka(kafka_bootstrap, topic), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert received(kafka_bootstrap, topic) == []


def test_an_unreachable_broker_fails_within_the_timeout(state_db: str, tmp_path: Path) -> None:
    # The message shows --timeout reached the client; that the client gives up within it
    # is test_bus_config.py's (no wall clock: these machines are too noisy for one).
    result = govmig(
        "migrate", "shantou-psb-001", "--state-db", state_db,
        "--bootstrap-servers", "127.0.0.1:1", "--timeout", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot reach Kafka at 127.0.0.1:1 within 1 s")
    assert "govmig kafka status" in result.stderr


# --- approve / reject ---------------------------------------------------------------------

WAVE = ("shantou-hsa-001", "shantou-hsa-002")  # placed in wave 4, migration requested by alice


@pytest.fixture
def wave_db(state_db: str) -> str:
    """The registered systems, and two more placed in wave 4."""
    inventory = load_inventory()
    systems = {system.id: system for system in load_systems(DEFAULT_CATALOGUE, inventory)}
    with open_store(state_db) as store, store.transaction() as session:
        for system_id in WAVE:
            drive(session, systems[system_id], SystemState.PLACED, wave=4, requested_by="alice")
    return state_db


def test_approve_a_wave_and_reject_one_system_with_actor_and_change(
    kafka_bootstrap: str, topic: str, wave_db: str, tmp_path: Path
) -> None:
    approved = govmig(
        "approve", "--wave", "4", "--change-ref", "CHG-2041", "--comment", "演练通过",
        "--state-db", wave_db, *kafka(kafka_bootstrap, topic),
        cwd=tmp_path, env={"GOVMIG_ACTOR": "bob"},
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    rejected = govmig(
        "reject", WAVE[1], "--change-ref", "CHG-2042", "--actor", "carol", "--output", "json",
        "--state-db", wave_db, *kafka(kafka_bootstrap, topic), cwd=tmp_path,
    )  # fmt: skip
    assert rejected.returncode == 0, rejected.stderr
    [row] = json.loads(rejected.stdout)["events"]
    assert (row["type"], row["requested_by"], row["change_ref"], row["comment"]) == (
        "gov.cloud.migration.rejected",
        "carol",
        "CHG-2042",
        None,
    )
    sent = [(key, event.type, event.data.model_dump()) for key, event in received(
        kafka_bootstrap, topic)]  # fmt: skip
    approval = {"change_ref": "CHG-2041", "comment": "演练通过", "approved_by": "bob"}
    assert sorted(sent, key=lambda one: (one[1], one[0] or b"")) == [
        (WAVE[0].encode(), "gov.cloud.migration.approved", {"system_id": WAVE[0], **approval}),
        (WAVE[1].encode(), "gov.cloud.migration.approved", {"system_id": WAVE[1], **approval}),
        (WAVE[1].encode(), "gov.cloud.migration.rejected",
         {"system_id": WAVE[1], "change_ref": "CHG-2042", "comment": None, "rejected_by": "carol"}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", WAVE[0], "--wave", "4", "--change-ref", "C-1"],
         "error: give either SYSTEM_IDs or --wave W, not both"),
        (["reject", "--change-ref", "C-1"], "error: name the systems: SYSTEM_ID... or --wave W"),
        (["approve", "--wave", "9", "--change-ref", "C-1"],
         "error: wave 9 has no systems in the state database"),
        (["approve", WAVE[0]], "error: --change-ref is required: the change (ticket) you approve"),
        (["reject", WAVE[0], "--change-ref", "C-1 "],
         "error: --change-ref 'C-1 ': must be one line of 1-64 characters, no space at either end"),
        (["approve", WAVE[0], "--change-ref", "C-1", "--actor", "a|b"],
         "error: --actor 'a|b': must be one line"),
        (["approve", "shantou-psb-404", "--change-ref", "C-1"],
         "error: unknown system 'shantou-psb-404'"),
    ],
    ids=["ids-and-wave", "neither", "empty-wave", "no-change-ref", "padded-change-ref",
         "hostile-actor", "unknown-system"],
)  # fmt: skip
def test_bad_approvals_are_refused_before_anything_is_sent(
    kafka_bootstrap: str, topic: str, wave_db: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = govmig(*args, "--state-db", wave_db, *kafka(kafka_bootstrap, topic), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert received(kafka_bootstrap, topic) == []


# --- schedule ---------------------------------------------------------------------------

CALENDAR = """
time_zone: Asia/Shanghai
windows:
  - {name: weekend-night, days: [sat], start: "00:00", end: "06:00"}
freezes:
  - {name: Spring Festival 2027, start: 2027-02-05, end: 2027-02-13}
"""


def next_saturday_at_one() -> str:
    """01:00 on the next Saturday, Shanghai wall clock: inside the weekend window."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    return f"{saturday.isoformat()}T01:00"


def test_schedule_pins_a_cutover_inside_a_window_and_clear_removes_it(
    kafka_bootstrap: str, topic: str, wave_db: str, tmp_path: Path
) -> None:
    calendar = tmp_path / "calendar.yml"
    calendar.write_text(CALENDAR, encoding="utf-8")
    at = next_saturday_at_one()
    pinned = govmig(
        "schedule", WAVE[0], "--at", at, "--calendar", str(calendar), "--actor", "bob",
        "--output", "json", "--state-db", wave_db, *kafka(kafka_bootstrap, topic), cwd=tmp_path,
    )  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr
    [row] = json.loads(pinned.stdout)["events"]
    assert (row["type"], row["requested_by"], row["at"]) == (
        "gov.cloud.migration.scheduled",
        "bob",
        f"{at}:00+08:00",
    )
    cleared = govmig(
        "schedule", WAVE[0], "--clear", "--actor", "bob", "--state-db", wave_db,
        *kafka(kafka_bootstrap, topic), cwd=tmp_path,
    )  # fmt: skip
    assert cleared.returncode == 0, cleared.stderr
    sent = [event.data.model_dump(mode="json") for _, event in received(kafka_bootstrap, topic)]
    assert sent == [
        {"system_id": WAVE[0], "at": f"{at}:00+08:00", "scheduled_by": "bob", **NO_WHY},
        {"system_id": WAVE[0], "at": None, "scheduled_by": "bob", **NO_WHY},
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "2027-02-06T01:00"],
         "error: cannot schedule shantou-hsa-001 at Sat 2027-02-06 01:00 CST: freeze: freeze "
         "'Spring Festival 2027' is on until Sun 2027-02-14 00:00 CST; next, window "
         "'weekend-night' opens Sat 2027-02-20 00:00 CST"),
        (["--at", "2027-01-06T12:00+08:00"],
         "error: cannot schedule shantou-hsa-001 at Wed 2027-01-06 12:00 CST: window: no "
         "maintenance window is open; next, window 'weekend-night' opens Sat 2027-01-09 00:00 CST"),
        (["--at", "2020-01-04T01:00"],
         "error: cannot schedule shantou-hsa-001 at Sat 2020-01-04 01:00 CST: that time has "
         "passed"),
        (["--at", "next saturday"], "error: --at 'next saturday': not a time; write it as"),
        (["--at", "2027-01-09T01:00", "--clear"], "error: give --at TIME, or --clear"),
        ([], "error: give --at TIME, or --clear"),
    ],
    ids=["in-a-freeze", "outside-every-window", "passed", "not-a-time", "both", "neither"],
)  # fmt: skip
def test_a_schedule_the_calendar_would_hold_is_refused_with_the_reason(
    kafka_bootstrap: str, topic: str, wave_db: str, tmp_path: Path, args: list[str], message: str
) -> None:
    calendar = tmp_path / "calendar.yml"
    calendar.write_text(CALENDAR, encoding="utf-8")
    result = govmig(
        "schedule", WAVE[0], *args, "--calendar", str(calendar), "--state-db", wave_db,
        *kafka(kafka_bootstrap, topic), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert received(kafka_bootstrap, topic) == []


def test_wave_resume_publishes_a_resume_of_a_halted_wave(
    kafka_bootstrap: str, topic: str, wave_db: str, tmp_path: Path
) -> None:
    with open_store(wave_db, create=False) as store, store.transaction() as session:
        wave_store.record_halts(session, {4: "1 of 2 rolled back"}, at=datetime.now(UTC))
    resumed = govmig(
        "wave", "resume", "4", "--reason", "understood", "--actor", "ops", "--output", "json",
        "--state-db", wave_db, *kafka(kafka_bootstrap, topic), cwd=tmp_path,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    [row] = json.loads(resumed.stdout)["events"]
    assert (row["type"], row["system_id"], row["wave"], row["requested_by"], row["reason"]) == (
        "gov.cloud.wave.resume_requested",
        None,
        4,
        "ops",
        "understood",
    )
    [(key, event)] = received(kafka_bootstrap, topic)
    assert key == b"wave-4"
    assert event.data.model_dump() == {"wave": 4, "requested_by": "ops", "reason": "understood"}
