"""The scenarios: each injects its faults into real components and fills one row of figures.

Every scenario has a full size and a short one (``short=True``, a few faults,
for ``make test``). A scenario's wave is real: ``govmig run`` processes, the
suite's Kafka broker, SQLite or PostgreSQL, ansible-runner and a provider.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from chaos.audit import ledger_drift
from chaos.figures import Figures
from chaos.fuzz import case_of, fuzzed
from chaos.harness import GovmigRun, count_rows, publish, read_fleet
from chaos.instances import share_and_kill_one
from chaos.lab_faults import cut_off, refusing_updates
from chaos.polling import wait_until
from chaos.rig import Rig
from chaos.sites import LabSites, LocalSites, Sites
from chaos.wave import Wave
from orchestrator.bus import read_topic
from orchestrator.events.data import MigrationRetryRequested, MigrationRevertRequested
from orchestrator.events.registration import registration_records
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import FORWARD_PHASES, SystemState
from orchestrator.reactor.deadletter import describe

LOCAL_NODES = ("shantou", "heyuan", "zhanjiang")
PROGRESS_TIMEOUT_S = 180.0
KILLED_ID = "chaos-killed"


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Rig, bool], Figures]
    lab: bool = False
    # False: only in the full suite (the short one proves the same on local, in less time).
    short: bool = True


@contextmanager
def measured(figures: Figures) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        figures.seconds = time.monotonic() - started


def local_sites(rig: Rig, name: str) -> Sites:
    return LocalSites(rig.base / f"{name}-work")


def lab_sites(rig: Rig, _name: str) -> Sites:
    return LabSites(rig.lab())


def sqlite_url(rig: Rig, name: str) -> str:
    return f"sqlite:///{rig.base / f'{name}.db'}"


def new_wave(
    rig: Rig, name: str, sites: Sites, count: int, *, short: bool, url: str | None = None
) -> Wave:
    """A wave over the nodes; a short one on one node: one playbook run per phase, on 2 cores.
    On the lab, nodes no other scenario used."""
    nodes: tuple[str, ...]
    if isinstance(sites, LocalSites):
        nodes = LOCAL_NODES[:1] if short else LOCAL_NODES
    else:
        nodes = rig.fresh_lab_nodes(1 if short else 2)
    systems = rig.fresh_systems(count)
    return Wave(rig, name, sites, url or sqlite_url(rig, name), systems, nodes)


# --- kill -9, again and again, during a wave ---


def sigkill_wave(rig: Rig, name: str, sites: Sites, short: bool) -> Figures:
    """``govmig run`` killed with SIGKILL again and again (first inside a cutover), then run."""
    count, kills = (3, 2) if short else (12, 6)
    figures = Figures(name, expected_completed=count)
    with measured(figures):
        wave = new_wave(rig, name, sites, count, short=short)
        try:
            wave.request()
            for n in range(kills):
                if wave.ended() == count:
                    break
                figures.faults += kill_after_progress(wave, n)
            last = wave.start("last", "--instance-id", KILLED_ID)
            wave.settle()
            wave.stop(last)
            wave.tally(figures)
        finally:
            wave.close()
    return figures


def kill_after_progress(wave: Wave, n: int) -> int:
    """Start a run, let it move (the first until a cutover runs), kill it with SIGKILL."""
    before = wave.transitions()
    run = wave.start(f"killed-{n}", "--instance-id", KILLED_ID)

    def moved() -> bool:
        if wave.ended() == len(wave.systems):
            return True
        if n == 0:
            return wave.count(f"state = '{SystemState.CUTOVER}'") > 0
        return wave.transitions() >= before + 3

    wait_until(moved, timeout_s=PROGRESS_TIMEOUT_S, what=lambda: f"progress:\n{run.output()}")
    if wave.ended() == len(wave.systems):
        run.close()
        return 0
    run.signal(signal.SIGKILL)
    run.process.wait(10)
    return 1


# --- kill -9 during warm migration's delta pass, final delta and revert ---

WARM: tuple[str, ...] = ("--warm", "--ready-budget", "30", "--delta-interval", "1")
WRITTEN = "written-after-cutover"


def sigkill_warm(rig: Rig, name: str, sites: Sites, short: bool) -> Figures:
    """``govmig run --warm`` killed with SIGKILL during a delta pass, then during a final
    delta (the cutover); once every system completed, a file is written through each name
    and each is reverted, and a run is killed during the revert. The last run settles:
    every system must be rolled back, answer from its source and hold the file ("done"
    counts the systems reverted with their file)."""
    count = 2 if short else 6
    figures = Figures(name, expected_completed=count)
    with measured(figures):
        wave = new_wave(rig, name, sites, count, short=short)
        try:
            wave.request()
            figures.faults += kill_when(wave, "k-delta", DELTA_RUNNING, COMPLETED)
            figures.faults += kill_when(wave, "k-final", f"state = '{S.CUTOVER}'", COMPLETED)
            settle = wave.start("settle", "--instance-id", KILLED_ID, *WARM)
            wave.settle()
            wave.stop(settle)
            written = revert_all_with_a_write(wave)
            reverting = f"state = '{S.REVERTING}' AND {HELD}"
            figures.faults += kill_when(wave, "k-revert", reverting, f"state = '{S.ROLLED_BACK}'")
            last = wave.start("last", "--instance-id", KILLED_ID, *WARM)
            wave.settle()
            wave.stop(last)
            wave.tally(figures)
            figures.completed = reverted_with(wave, written, figures)
        finally:
            wave.close()
    return figures


S = SystemState
HELD = "lease_owner IS NOT NULL"
COMPLETED = f"state = '{S.COMPLETED}'"
# A pass runs after the first one: a delta (a ready system cuts over in the same
# transaction that made it ready, so passes run while it is replicating).
DELTA_RUNNING = (
    f"state IN ('{S.REPLICATING}', '{S.READY}') AND {HELD} "
    "AND id IN (SELECT system_id FROM replication_passes)"
)


def kill_when(wave: Wave, name: str, where: str, done: str) -> int:
    """Start a warm run, wait until a system matches ``where``, kill the run with SIGKILL;
    no kill if every system matched ``done`` first."""
    run = wave.start(name, "--instance-id", KILLED_ID, *WARM)
    wait_until(
        lambda: wave.count(where) > 0 or wave.count(done) == len(wave.systems),
        timeout_s=PROGRESS_TIMEOUT_S,
        what=lambda: f"{where}:\n{run.output()}",
    )
    if wave.count(where) == 0:
        run.close()
        return 0
    run.signal(signal.SIGKILL)
    run.process.wait(10)
    return 1


def revert_all_with_a_write(wave: Wave) -> dict[str, bytes]:
    """Write a file through each completed system's name, then ask for its revert (the next
    run reads the requests)."""
    fleet = read_fleet(wave.url)
    written = {}
    for sid in wave.ids:
        if fleet.systems[sid].state is S.COMPLETED:
            written[sid] = f"{sid} wrote this on its target\n".encode()
            wave.sites.write(sid, WRITTEN, written[sid])
    publish(
        wave.settings,
        [MigrationRevertRequested(system_id=sid, requested_by="chaos") for sid in written],
        source="/chaos",
    )
    return written


def reverted_with(wave: Wave, written: dict[str, bytes], figures: Figures) -> int:
    """Systems rolled back whose source holds what was written on the target; a loss else."""
    fleet = read_fleet(wave.url)
    done = 0
    for sid in wave.ids:
        row = fleet.systems[sid]
        body = written.get(sid)
        if body is None:
            figures.notes.append(f"{sid} never completed, so it was not reverted")
        elif row.state is S.ROLLED_BACK and wave.sites.source_holds(row, WRITTEN, body):
            done += 1
        else:
            figures.lost += 1
            figures.notes.append(f"{sid} ({row.state}): the file written on its target is lost")
    return done


def warm_kill9_local(rig: Rig, short: bool) -> Figures:
    return sigkill_warm(rig, "warm-kill9-local", local_sites(rig, "warm-kill9-local"), short)


def warm_kill9_lab(rig: Rig, short: bool) -> Figures:
    return sigkill_warm(rig, "warm-kill9-lab", lab_sites(rig, "warm-kill9-lab"), short)


def kill9_local(rig: Rig, short: bool) -> Figures:
    return sigkill_wave(rig, "kill9-local", local_sites(rig, "kill9-local"), short)


def kill9_lab(rig: Rig, short: bool) -> Figures:
    return sigkill_wave(rig, "kill9-lab", lab_sites(rig, "kill9-lab"), short)


# --- every event delivered three times ---


def triplicates(rig: Rig, short: bool) -> Figures:
    """Each event of the wave three times: twice before the run, once more after it completed."""
    count = 2 if short else 12
    name = "events-thrice"
    figures = Figures(name, expected_completed=count)
    with measured(figures):
        wave = new_wave(rig, name, local_sites(rig, name), count, short=short)
        try:
            records = wave.request_records()
            wave.send([record for record in records for _copy in range(2)])
            run = wave.start("run")
            wave.settle()
            wave.send(records)  # redelivered after the fact: must change nothing
            figures.faults = 2 * len(records)
            wait_until(
                lambda: processed_events(wave) >= len(records),
                timeout_s=60,
                what="the first copies recorded as processed",
            )
            time.sleep(3)  # let the last copies reach the run; the tally shows what they did
            wave.stop(run)
            wave.tally(figures)
        finally:
            wave.close()
    return figures


def processed_events(wave: Wave) -> int:
    return count_rows(wave.url, "SELECT count(*) FROM processed_events")


# --- the broker stops and starts mid-wave ---


def broker_restart(rig: Rig, short: bool) -> Figures:
    """The Kafka broker stopped and started while the wave runs; half the requests come after."""
    count, restarts = (2, 1) if short else (12, 3)
    name = "broker-restart"
    figures = Figures(name, expected_completed=count)
    with measured(figures):
        wave = new_wave(rig, name, local_sites(rig, name), count, short=short)
        try:
            records = wave.request_records()
            half = count // 2
            registrations, requests = records[:count], records[count:]
            wave.send([*registrations, *requests[:half]])
            run = wave.start("run")
            for n in range(restarts):
                wait_for_progress(wave, steps=3, what="progress before the broker stops")
                rig.kafka.down()
                time.sleep(5 if short else 15)
                rig.kafka.up()
                figures.faults += 1
                if n == 0:
                    wave.send(requests[half:])
            wave.settle()
            run.assert_alive()
            wave.stop(run)
            wave.tally(figures)
        finally:
            wave.close()
    return figures


def wait_for_progress(wave: Wave, *, steps: int, what: str) -> None:
    """Wait until the wave made ``steps`` more transitions (or every system ended)."""
    before = wave.transitions()
    wait_until(
        lambda: wave.transitions() >= before + steps or wave.ended() == len(wave.systems),
        timeout_s=PROGRESS_TIMEOUT_S,
        what=what,
    )


# --- a failure injected in every phase ---


def failures_every_phase(rig: Rig, short: bool) -> Figures:
    """Each system fails once, each in a phase of its own: it rolls back, a retry completes it."""
    per_phase = 1 if short else 2
    count = per_phase * len(FORWARD_PHASES)
    name = "failure-every-phase"
    # The product ends a failed phase in rolled_back; only the full run retries them all.
    figures = Figures(name, expected_completed=0 if short else count)
    with measured(figures):
        wave = new_wave(rig, name, local_sites(rig, name), count, short=short)
        try:
            phases = {
                sid: FORWARD_PHASES[i % len(FORWARD_PHASES)] for i, sid in enumerate(wave.ids)
            }
            plan = ",".join(f"{sid}:{phase}" for sid, phase in phases.items())
            wave.request()
            run = wave.start("run", env={"GOVMIG_INJECT_FAILURES": plan})
            wave.settle()
            rolled_back = wave.count(f"state = '{SystemState.ROLLED_BACK}'")
            figures.faults = rolled_back
            figures.notes.append(f"{rolled_back} of {count} rolled back after their fault")
            if not short:
                retry_all(wave, run)
            wave.stop(run)
            wave.tally(figures)
        finally:
            wave.close()
    return figures


def retry_all(wave: Wave, run: GovmigRun) -> None:
    """A retry of every system: each fault fired once, so each completes now."""
    retries = [MigrationRetryRequested(system_id=sid, requested_by="chaos") for sid in wave.ids]
    publish(wave.settings, retries)
    wait_until(
        lambda: (
            wave.count(f"state = '{SystemState.COMPLETED}'") == len(wave.ids)
            or run.process.poll() is not None
        ),
        timeout_s=PROGRESS_TIMEOUT_S,
        what="every system completed on retry",
    )


# --- the lab's DNS server refuses the cutover's update ---


def dns_refused(rig: Rig, short: bool) -> Figures:
    """BIND refuses every update: each cutover stops before it quiesces its source and rolls
    back, the source serving throughout; once BIND accepts again, a retry completes each."""

    def inject(wave: Wave) -> GovmigRun:
        with refusing_updates(wave.sites_lab()):
            wave.request()
            run = wave.start("run")
            settle_under_fault(wave, failed_in=SystemState.CUTOVER)
        return run

    return fault_then_retry(rig, "dns-refused", short, inject, "cutovers refused by BIND")


# --- a source host gone while its system replicates ---


def source_gone(rig: Rig, short: bool) -> Figures:
    """A source host cut off the network as its system starts replicating: the phase fails and
    rolls back without the source; back on the network, it serves again and a retry completes."""

    def inject(wave: Wave) -> GovmigRun:
        victim = wave.systems[0]
        wave.request()
        run = wave.start("run")
        wait_until(
            lambda: wave.count(f"id = '{victim.id}' AND state = '{SystemState.REPLICATING}'") == 1,
            timeout_s=PROGRESS_TIMEOUT_S,
            what=f"{victim.id} replicating",
            interval_s=0.1,
        )
        with cut_off(wave.sites_lab(), victim.source.host):
            settle_under_fault(wave, failed_in=SystemState.REPLICATING)
        return run

    return fault_then_retry(rig, "source-gone", short, inject, "replications lost their source")


def fault_then_retry(
    rig: Rig, name: str, short: bool, inject: Callable[[Wave], GovmigRun], what: str
) -> Figures:
    """A lab wave through ``inject`` (the fault, then every system settled under it); with the
    fault gone, each rolled-back system must answer from its source, and a retry completes all.
    """
    count = 1 if short else 6
    figures = Figures(name, expected_completed=count)
    with measured(figures):
        wave = new_wave(rig, name, LabSites(rig.lab()), count, short=short)
        try:
            run = inject(wave)
            figures.faults = wave.faulted
            serving = wave.misplaced()
            figures.lost += len(serving)
            figures.notes += [f"{figures.faults} {what}, rolled back", *serving]
            retry_all(wave, run)
            wave.stop(run)
            wave.tally(figures)
        finally:
            wave.close()
    return figures


def settle_under_fault(wave: Wave, *, failed_in: SystemState) -> None:
    """Let every system end while the fault lasts; count those it failed in ``failed_in``."""
    wave.settle()
    wave.faulted = count_rows(
        wave.url,
        "SELECT count(DISTINCT system_id) FROM transitions "
        f"WHERE from_state = '{failed_in}' AND to_state = '{SystemState.ROLLING_BACK}'",
    )


# --- several instances on PostgreSQL, one killed ---


def instances_postgres(rig: Rig, name: str, sites: Sites, short: bool) -> Figures:
    """Three instances on one PostgreSQL share a wave; one holding leases is killed -9."""
    count = 3 if short else 12
    figures = Figures(name, expected_completed=count)
    with measured(figures):
        wave = new_wave(rig, name, sites, count, short=short, url=rig.postgres_database())
        try:
            share_and_kill_one(wave, figures, timeout_s=PROGRESS_TIMEOUT_S)
            wave.tally(figures)
        finally:
            wave.close()
    return figures


def instances_local(rig: Rig, short: bool) -> Figures:
    return instances_postgres(rig, "instances-pg-local", local_sites(rig, "instances"), short)


def instances_lab(rig: Rig, short: bool) -> Figures:
    return instances_postgres(rig, "instances-pg-lab", lab_sites(rig, "instances"), short)


# --- fuzzed events among valid ones ---


def fuzzed_events(rig: Rig, short: bool) -> Figures:
    """Fuzzed records among valid registrations: each bad one dead-lettered, each valid kept."""
    bad, good = (300, 30) if short else (10_000, 500)
    name = "fuzz"
    figures = Figures(name, expected_completed=good)
    with measured(figures):
        wave = Wave(rig, name, LocalSites(rig.base / f"{name}-work"), sqlite_url(rig, name),
                    [], LOCAL_NODES)  # fmt: skip
        valid = rig.fresh_systems(good)
        rng = random.Random(7)
        broken = [fuzzed(rng, n, valid[n % good]) for n in range(bad)]
        records = registration_records(valid)
        mixed = [*broken, *records]
        rng.shuffle(mixed)
        wave.send(mixed)
        figures.faults = bad
        run = wave.start("intake", "--no-worker", "--flood-cooldown", "0")
        try:
            wait_until(
                lambda: registered(wave, valid) == good or run.process.poll() is not None,
                timeout_s=PROGRESS_TIMEOUT_S, what="the valid registrations stored",
            )  # fmt: skip
            wait_until(lambda: dead_letters(wave) >= bad, timeout_s=60, what="the dead letters")
            wave.stop(run)
        finally:
            wave.close()
        tally_fuzz(wave, figures, valid, bad)
    return figures


def registered(wave: Wave, systems: Sequence[BusinessSystem]) -> int:
    ids = ",".join(f"'{s.id}'" for s in systems)
    return count_rows(wave.url, f"SELECT count(*) FROM systems WHERE id IN ({ids})")


def dead_letters(wave: Wave) -> int:
    return sum(1 for _ in read_topic(wave.settings, wave.settings.dlq_topic))


def tally_fuzz(wave: Wave, figures: Figures, valid: Sequence[BusinessSystem], bad: int) -> None:
    """Lost: a fuzzed record not dead-lettered, or a valid one not stored; drift as ever."""
    letters = list(read_topic(wave.settings, wave.settings.dlq_topic))
    figures.dead_letters.update(describe(letter).reason for letter in letters)
    cases = {case_of(letter) for letter in letters}
    missing = [n for n in range(bad) if n not in cases]
    stored = registered(wave, valid)
    figures.systems = len(valid)
    figures.completed = stored
    figures.lost = len(missing) + (len(valid) - stored)
    if missing:
        figures.notes.append(f"fuzzed records not dead-lettered: {missing[:20]}")
    figures.notes.append(f"{stored} of {len(valid)} valid registrations stored ('done')")
    drift = ledger_drift(read_fleet(wave.url))
    figures.ledger_drift = len(drift)
    figures.notes.extend(drift)


SCENARIOS: tuple[Scenario, ...] = (
    # kill9-lab proves the same in the short suite, on real hosts; warm-kill9-local, on local.
    Scenario("kill9-local", kill9_local, short=False),
    Scenario("events-thrice", triplicates),
    Scenario("broker-restart", broker_restart),
    Scenario("failure-every-phase", failures_every_phase),
    Scenario("fuzz", fuzzed_events),
    Scenario("instances-pg-local", instances_local),
    Scenario("kill9-lab", kill9_lab, lab=True),
    Scenario("dns-refused", dns_refused, lab=True),
    Scenario("source-gone", source_gone, lab=True),
    Scenario("instances-pg-lab", instances_lab, lab=True, short=False),
    Scenario("warm-kill9-local", warm_kill9_local),
    Scenario("warm-kill9-lab", warm_kill9_lab, lab=True, short=False),
)
