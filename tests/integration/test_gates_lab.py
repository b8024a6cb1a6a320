"""Cutover gates on the lab's real hosts, with ``govmig`` on a controllable clock.

One small lab (three nodes, one target host each, two source hosts, BIND). Every
``govmig`` process of a phase (``run``, ``approve``, ``schedule``, ``status``)
starts on the same fake clock (``tests.fixtures.fake_clock``);
moving the clock on is restarting ``govmig run`` later, as an orchestrator
stopped over a weekend would be. The calendar is the real shape: a Saturday
night window in Asia/Shanghai, and a freeze declared after a cutover was
scheduled.

- Approval, then window: a high system (the default policy wants an approval)
  waits for one; its requester's own approval is refused, audited and shown;
  another's moves it on to wait for its window, and it cuts over once the
  clock is inside the window.
- A freeze blocks a scheduled cutover: a low system pinned to Saturday 01:00
  stays ready past that moment while a freeze declared later is on, and cuts
  over the moment the freeze is over, still inside the window: the worker asks
  its gates again then, with no pass between. Each wait shows as its one line in
  ``govmig status`` and is audited once, when it begins.
- Gated waves: wave 1's two systems, one failing its preflight, breach a 20%
  threshold; wave 2 stays placed until ``govmig wave resume 1``; the halt and
  the resume are each announced once on the status topic.
- A dependency group of three cuts over one after another, each as soon as the
  one before completes (no delta pass of its own between); when the third's
  cutover fails, the two cut over revert (reverse sync), and each of the
  three answers by name from its source again.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chaos.harness import (
    govmig_run,
    kafka_settings,
    publish,
    read_fleet,
    read_store,
    register_and_request,
    status_events,
)
from chaos.sites import LabSites, expected_source
from orchestrator.bus import Producer
from orchestrator.events.data import MigrationRequested, WaveStatusChanged
from orchestrator.events.registration import registration_records
from orchestrator.inventory import generate_catalogue, load_inventory
from orchestrator.inventory.models import BusinessSystem
from orchestrator.lab import Lab, LabOptions, LabPaths, seed_systems
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from orchestrator.store import replication as replication_store
from tests.fixtures.cli import govmig_process
from tests.fixtures.fake_clock import FakeClock, accept_its_timestamps
from tests.fixtures.orchestrator import system_row, wait_for_states
from tests.fixtures.polling import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.ansible, pytest.mark.kafka]

S = SystemState
SHANGHAI = ZoneInfo("Asia/Shanghai")
INVENTORY = load_inventory()
DATA_BYTES = 512 * 1024
PHASES_TIMEOUT_S = 240
CATALOGUE = [s for s in generate_catalogue(120) if not s.depends_on]
# One node per test: each test has its own store, so its own node's system addresses.
NODES = ("shantou", "shaoguan", "heyuan")

WINDOW = """
time_zone: Asia/Shanghai
windows:
  - {name: weekend-night, days: [sat], start: "00:00", end: "06:00"}
"""
# Declared after the low system's cutover was scheduled: a 重保 period for low systems.
FREEZE = """
freezes:
  - name: emergency-drill
    start: "{saturday} 00:30"
    end: "{saturday} 02:00"
    applies_to: {{criticalities: [low]}}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(LabPaths.under(tmp_path_factory.mktemp("gates") / "lab"), INVENTORY)
    lab.up(LabOptions(nodes=NODES, sources=2, disk_mb=64))
    try:
        yield lab
    finally:
        lab.down()


def friday_night() -> datetime:
    """22:00 on a Friday more than a week ahead, Shanghai wall clock."""
    today = datetime.now(SHANGHAI).date()
    friday = today + timedelta(days=(4 - today.weekday()) % 7 + 7)
    return datetime.combine(friday, time(22, 0), SHANGHAI)


def on_saturday(friday: datetime, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime.combine(friday.date() + timedelta(days=1), time(hour, minute, second), SHANGHAI)


def of(criticality: str, *numbers: int) -> list[BusinessSystem]:
    """The catalogue's systems of ``criticality`` by number: each test takes its own, since
    the lab's DNS keeps every name's fence (a system moved by one test's store would be a
    stale run to the next's)."""
    systems = [s for s in CATALOGUE if s.criticality == criticality]
    return [systems[n] for n in numbers]


def lab_options(lab: Lab, tmp_path: Path, *extra: str) -> tuple[str, ...]:
    return (
        "--worker", "--provider", "ssh", "--hosts", str(lab.paths.inventory),
        "--artifacts-dir", str(tmp_path / "artifacts"), *extra,
    )  # fmt: skip


def warm_options(lab: Lab, tmp_path: Path, *extra: str) -> tuple[str, ...]:
    return lab_options(
        lab, tmp_path, "--warm", "--ready-budget", "10", "--delta-interval", "2", *extra
    )


def govmig(clock: FakeClock | None, cwd: Path, *args: str) -> Any:
    """``govmig ARGS --output json`` (on ``clock``), as an operator runs it then; its document."""
    # A process: the fake clock is installed as its interpreter starts.
    result = govmig_process(
        *args, "--output", "json", cwd=cwd, env=clock.environment() if clock else None
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def kafka(settings: KafkaSettings) -> tuple[str, ...]:
    return (
        "--bootstrap-servers", settings.bootstrap_servers,
        "--events-topic", settings.events_topic,
    )  # fmt: skip


def state_of(url: str, system_id: str) -> SystemState | None:
    row = system_row(url, system_id)
    return None if row is None else row.state


def waiting_line(url: str, system_id: str) -> str:
    row = system_row(url, system_id)
    return "" if row is None or row.waiting is None else row.waiting


def wait_for_line(url: str, system_id: str, start: str) -> str:
    wait_until(
        lambda: waiting_line(url, system_id).startswith(start),
        timeout_s=PHASES_TIMEOUT_S,
        what=f"{system_id} waiting at {start!r}",
    )
    return waiting_line(url, system_id)


def audit_reasons(url: str, system_id: str) -> list[tuple[SystemState | None, str]]:
    return [(r.to_state, r.reason or "") for r in read_fleet(url).audit[system_id]]


def answers_from(lab: Lab, url: str, system_id: str) -> str:
    """Whether the system's name answers from its ``target`` host or its ``source``, or where."""
    row = system_row(url, system_id)
    assert row is not None
    sites = LabSites(lab)
    found = sites.serving_from(row)
    if found == row.target_host:
        return "target"
    return "source" if found == expected_source(sites, row) else f"{found}"


def passes_of(url: str, system_id: str) -> list[replication_store.PassRow]:
    return read_store(url, lambda session: replication_store.passes(session, system_id)) or []


def in_order(states: list[SystemState], steps: list[SystemState]) -> bool:
    """Whether ``steps`` occur in ``states`` in this order (others may come between)."""
    remaining = iter(states)
    return all(step in remaining for step in steps)


def test_approval_then_window_and_a_freeze_that_blocks_a_scheduled_cutover(
    lab: Lab, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    accept_its_timestamps(settings)
    [high], [low] = of("high", 0), of("low", 0)
    high, low = seed_systems(lab, [high, low], size=DATA_BYTES)
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    calendar = tmp_path / "calendar.yml"
    calendar.write_text(WINDOW, encoding="utf-8")
    friday = friday_night()
    saturday = f"{friday.date() + timedelta(days=1):%Y-%m-%d}"
    opens = f"Sat {saturday} 00:00 CST"
    options = warm_options(lab, tmp_path, "--calendar", str(calendar))
    register_and_request(settings, [high, low], target=NODES[0])

    # Friday night: both ready before the window; the high one wants an approval.
    evening = FakeClock(friday)
    with govmig_run(settings, url, tmp_path, *options, env=evening.environment()) as run:
        wants_approval = wait_for_line(url, high.id, "approval: ")
        wait_for_line(url, low.id, "window: ")
        pinned = govmig(
            evening, tmp_path, "schedule", low.id, "--at", f"{saturday}T01:00",
            "--calendar", str(calendar), "--actor", "carol", "--state-db", url, *kafka(settings),
        )  # fmt: skip
        scheduled = wait_for_line(url, low.id, "window: scheduled for ")
        govmig(
            evening, tmp_path, "approve", high.id, "--change-ref", "CHG-7", "--actor", "tests",
            "--no-check", *kafka(settings),
        )  # fmt: skip
        wait_until(
            lambda: any(r.refused for r in read_fleet(url).audit[high.id] if r.cause == "approve"),
            timeout_s=60,
            what="the self-approval refused",
        )
        refused = govmig(evening, tmp_path, "status", high.id, "--state-db", url)
        govmig(
            evening, tmp_path, "approve", high.id, "--change-ref", "CHG-7", "--actor", "bob",
            *kafka(settings),
        )  # fmt: skip
        for_window = wait_for_line(url, high.id, "window: ")
        listed = govmig(evening, tmp_path, "status", "--state-db", url)
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    assert wants_approval == (
        "approval: its policy needs an approval by someone other than tests under a change "
        "reference (govmig approve)"
    )
    assert pinned["events"][0]["type"] == "gov.cloud.migration.scheduled"
    assert scheduled == f"window: scheduled for Sat {saturday} 01:00 CST"
    self_approval = [r for r in refused["history"] if r["cause"] == "approve"]
    assert [(r["actor"], r["refused"]) for r in self_approval] == [("tests", True)]
    assert self_approval[0]["reason"].startswith("approval refused: tests approves the migration")
    assert refused["approval"] == {"needed": True, "live": None}
    assert (
        for_window
        == f"window: no maintenance window is open; next, window 'weekend-night' opens {opens}"
    )
    assert [state_of(url, s.id) for s in (high, low)] == [S.READY, S.READY]
    waiting = {row["id"]: row["waiting"] for row in listed["systems"]}
    assert waiting == {high.id: for_window, low.id: scheduled}

    # Saturday 01:59:30, a freeze for low systems declared meanwhile: the high one goes,
    # the low one stays ready past its scheduled 01:00 until the freeze ends at 02:00,
    # when the worker asks its gates again without a pass (the next is minutes away).
    # (The run must start and see the freeze before it ends: half a minute, as a busy
    # machine may take several seconds, which the test then waits out.)
    calendar.write_text(WINDOW + FREEZE.format(saturday=saturday), encoding="utf-8")
    night = FakeClock(on_saturday(friday, 1, 59, 30))
    night_options = lab_options(
        lab, tmp_path, "--warm", "--ready-budget", "10", "--delta-interval", "300",
        "--calendar", str(calendar),
    )  # fmt: skip
    with govmig_run(
        settings, url, tmp_path, *night_options, env=night.environment(), name="night"
    ) as run:
        frozen = wait_for_line(url, low.id, "freeze: ")
        frozen_state = state_of(url, low.id)
        wait_for_states(
            url, {high.id: S.COMPLETED, low.id: S.COMPLETED}, run, timeout_s=PHASES_TIMEOUT_S
        )
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    assert frozen_state is S.READY
    assert frozen.startswith(
        f"freeze: freeze 'emergency-drill' is on until Sat {saturday} 02:00 CST"
    )
    [high_went] = [why for state, why in audit_reasons(url, high.id) if state is S.CUTOVER]
    assert "approved by bob under CHG-7" in high_went
    assert f"window 'weekend-night' open until Sat {saturday} 06:00 CST" in high_went
    [low_went] = [why for state, why in audit_reasons(url, low.id) if state is S.CUTOVER]
    assert f"window 'weekend-night' open until Sat {saturday} 06:00 CST" in low_went
    assert "asked again: what held it changed" in low_went  # at 02:00, not after a pass
    # Each wait was audited once, when it began, though the worker asked the gates after
    # every delta pass.
    for system, held_by in ((high, "approval: "), (low, "window: scheduled "), (low, "freeze: ")):
        refused = [why for state, why in audit_reasons(url, system.id) if state is None]
        began = [why for why in refused if why.startswith(f"cutover not started: {held_by}")]
        assert len(began) == 1, refused

    for system in (high, low):
        assert answers_from(lab, url, system.id) == "target"
        row = system_row(url, system.id)
        assert row is not None
        assert (row.downtime_seconds or 0) > 0


def test_a_wave_over_its_threshold_halts_the_next_on_the_lab_until_resumed(
    lab: Lab, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    failing, passing, later = of("medium", 0, 1, 2)
    systems = seed_systems(lab, [failing, passing, later], size=DATA_BYTES)
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, registration_records(systems))
    waves = {failing.id: 1, passing.id: 1, later.id: 2}
    publish(
        settings,
        [
            MigrationRequested(system_id=s, target_node=NODES[1], wave=w, requested_by="tests")
            for s, w in waves.items()
        ],
    )
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    options = lab_options(lab, tmp_path, "--wave-threshold", "0.2")
    env = {"GOVMIG_INJECT_FAILURES": f"{failing.id}:preflight"}
    with govmig_run(settings, url, tmp_path, *options, env=env) as run:
        wait_for_states(
            url,
            {failing.id: S.ROLLED_BACK, passing.id: S.COMPLETED},
            run,
            timeout_s=PHASES_TIMEOUT_S,
        )
        held = wait_for_line(url, later.id, "wave: ")
        halted = by_wave(govmig(None, tmp_path, "wave", "--state-db", url))
        assert state_of(url, later.id) is S.PLACED
        wait_until(lambda: wave_events(settings) != [], timeout_s=30, what="the halt announced")
        announced_halted = wave_events(settings)
        govmig(
            None, tmp_path, "wave", "resume", "1", "--actor", "ops", "--reason", "understood",
            "--state-db", url,
            *kafka(settings),
        )  # fmt: skip
        wait_for_states(url, {later.id: S.COMPLETED}, run, timeout_s=PHASES_TIMEOUT_S)
        resumed = by_wave(govmig(None, tmp_path, "wave", "--state-db", url))
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    breach = "1 of 2 rolled back or failed (50%)"
    assert held == f"wave: wave 1 is halted: {breach}; govmig wave resume 1"
    assert (halted[1]["state"], halted[1]["finished"], halted[1]["rolled_back_or_failed"]) == (
        "halted",
        2,
        1,
    )
    assert halted[2]["state"] == "waiting"
    assert halted[1]["halted"]["reason"] == f"{breach}, over 20%"
    # The halt and the resume, each announced once on the status topic.
    assert [(i, d.wave, d.state, d.requested_by) for i, d in announced_halted] == [
        ("wave-1-halted", 1, "halted", None)
    ]
    assert [(i, d.wave, d.state, d.reason, d.requested_by) for i, d in wave_events(settings)] == [
        ("wave-1-halted", 1, "halted", f"{breach}, over 20%", None),
        ("wave-1-resumed", 1, "resumed", "understood", "ops"),
    ]
    assert (resumed[1]["state"], resumed[1]["halted"]["resumed_by"]) == ("finished", "ops")
    assert resumed[2]["state"] == "finished"
    # The held system's wait was audited once, however many times the worker looked.
    refused = [why for state, why in audit_reasons(url, later.id) if state is None]
    assert refused.count(f"not started: {held} (system is placed)") == 1, refused
    assert answers_from(lab, url, later.id) == "target"


def by_wave(document: Any) -> dict[int, dict[str, Any]]:
    """``govmig wave``'s document, by wave."""
    return {row["wave"]: row for row in document["waves"]}


def wave_events(settings: KafkaSettings) -> list[tuple[str, WaveStatusChanged]]:
    """Each ``gov.cloud.wave.status_changed`` on the status topic: its id and data, in order."""
    return [
        (event.id, event.data)
        for event in status_events(settings)
        if isinstance(event.data, WaveStatusChanged)
    ]


def test_a_group_of_three_cuts_over_together_and_reverts_when_the_third_fails(
    lab: Lab, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    a, b, c = of("low", 1, 2, 3)
    b = b.model_copy(update={"depends_on": (a.id,)})
    c = c.model_copy(update={"depends_on": (b.id,)})
    group = seed_systems(lab, [a, b, c], size=DATA_BYTES)
    register_and_request(settings, group, target=NODES[2])
    url = f"sqlite:///{tmp_path / 'govmig.db'}"
    env = {"GOVMIG_INJECT_FAILURES": f"{c.id}:cutover"}
    options = warm_options(lab, tmp_path)
    with govmig_run(settings, url, tmp_path, *options, env=env) as run:
        wait_for_states(url, {s.id: S.ROLLED_BACK for s in group}, run, timeout_s=PHASES_TIMEOUT_S)
        run.signal(signal.SIGTERM)
        assert run.wait(60) == 0, run.output()

    fleet = read_fleet(url)
    cutovers = sorted(
        (row.id, sid)
        for sid in fleet.audit
        for row in fleet.audit[sid]
        if row.to_state is S.CUTOVER
    )
    assert [sid for _, sid in cutovers] == [a.id, b.id, c.id]  # dependency order, one each
    # Each went as the one before it completed, not after a delta pass of its own between.
    for before, member in ((a, b), (b, c)):
        completed = next(r.at for r in fleet.audit[before.id] if r.to_state is S.COMPLETED)
        [started] = [r.at for r in fleet.audit[member.id] if r.to_state is S.CUTOVER]
        between = [p.at for p in passes_of(url, member.id) if completed < p.at < started]
        assert between == [], (member.id, completed, started)
    states = {s.id: [r.to_state for r in fleet.audit[s.id] if r.to_state] for s in group}
    for sid in (a.id, b.id):
        assert in_order(states[sid], [S.COMPLETED, S.REVERTING, S.ROLLED_BACK]), states[sid]
        [reverted] = [r for r in fleet.audit[sid] if r.to_state is S.REVERTING]
        assert reverted.actor == "dependency group policy"
        assert c.id in (reverted.reason or ""), reverted.reason
    assert S.COMPLETED not in states[c.id]
    assert S.ROLLING_BACK in states[c.id]
    assert [answers_from(lab, url, s.id) for s in group] == ["source"] * 3
