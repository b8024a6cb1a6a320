"""Warm migration on the ``local`` provider: writes while ready, rehearsal, revert, finalize.

Real ansible-runner through ``PhaseRunner`` and real services on loopback, as in
``test_executor``. One module-scoped sandbox takes three systems through
preflight, provision and replicate; one of them is written to while ready,
replicated again, rehearsed (once cleanly, once with a failure injected), cut
over, written to through the migrated service and reverted (twice); the other
two are cut over and finalized, one with the default retention, one with none.
The tests then check what a client and an operator would see.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import FaultPlan, HostVarsHook, NodeTarget, RunResult, SystemTarget
from orchestrator.execution.outcomes import HostOutcome
from orchestrator.execution.runner import PhaseRunner
from orchestrator.migrations.states import Phase
from orchestrator.providers import LocalProvider
from orchestrator.providers.local_sandbox import (
    NameRecord,
    fetch_health,
    instance_dir,
    name_record_path,
    prepare_source,
    read_name_record,
    source_dir,
    stop_service,
    stop_services,
)
from tests.fixtures.targets import system_target

pytestmark = pytest.mark.ansible

NODE = NodeTarget(node_id="meizhou", ipv6_prefix="2001:db8:7::/48")
WARM, KEPT, GONE = "mz-permits", "mz-tax", "mz-clinics"
# Reverted after a crash mid-revert, and with its instance's data lost.
CRASHED, NO_DATA = "mz-water", "mz-land"
SYSTEM_IDS = (WARM, KEPT, GONE, CRASHED, NO_DATA)
BEFORE_CUTOVER = (Phase.PREFLIGHT, Phase.PROVISION, Phase.REPLICATE)
ISO = "%Y-%m-%dT%H:%M:%SZ"
WRITTEN_WHILE_READY = b"written to the source while it replicated\n"
WRITTEN_LAST = b"written to the source after the last delta pass\n"
WRITTEN_AFTER_CUTOVER = b"written through the migrated service\n"


def put(record: NameRecord, name: str, body: bytes) -> None:
    """Write one data file through the service a name record resolves to, as a client would."""
    request = urllib.request.Request(
        f"http://{record.host}:{record.port}/data/{name}", data=body, method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 204


def running_from(home: Path) -> list[int]:
    """Pids of live processes running ``home/service.py``."""
    script = str(home / "service.py").encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            if not zombie and script in (proc / "cmdline").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except (OSError, IndexError):
            continue
    return found


def count(report: Mapping[str, object], key: str) -> int:
    """A report's whole, non-negative number under ``key``."""
    value = report[key]
    assert isinstance(value, int), (key, value)
    assert not isinstance(value, bool), (key, value)
    assert value >= 0, (key, value)
    return value


def data_files(home: Path) -> dict[str, bytes]:
    """The data of a source or instance, by file name."""
    return {p.name: p.read_bytes() for p in sorted((home / "data").rglob("*")) if p.is_file()}


@dataclass
class Warm:
    """The sandbox, the runner, and what each step saw."""

    work: Path
    runner: PhaseRunner
    faults: FaultPlan
    results: dict[str, RunResult] = field(default_factory=dict)
    seen: dict[str, Any] = field(default_factory=dict)

    def run(self, step: str, phase: Phase, *system_ids: str) -> RunResult:
        targets = [system_target(sid, SYSTEM_IDS.index(sid) + 1) for sid in system_ids]
        self.results[step] = self.runner.run(phase, [(NODE, targets)])
        return self.results[step]

    def outcome(self, step: str, system_id: str = WARM) -> HostOutcome:
        return self.results[step].outcome(system_id)

    def instance(self, system_id: str = WARM) -> Path:
        return instance_dir(self.work, NODE.node_id, system_id)

    def rehearsal_leftovers(self) -> dict[str, bool]:
        scratch = self.instance() / "rehearsal"
        return {
            "test record": (self.work / "dns" / f"{WARM}.rehearsal.json").exists(),
            "scratch dir": scratch.exists(),
            "test service": bool(running_from(scratch)),
        }


def retention_vars(days_by_system: Mapping[str, int]) -> HostVarsHook:
    """A host-vars hook giving these systems' sources a retention (others keep the default)."""

    def hook(phase: Phase, system: SystemTarget) -> Mapping[str, Any]:
        days = days_by_system.get(system.system_id)
        return {} if days is None else {"govmig_source_retention_days": days}

    return hook


def start_source(work: Path, system_id: str) -> None:
    """Start a source's service again, as a rollback does (with the same helper)."""
    argv = [sys.executable, str(PLAYBOOK_DIR / "files" / "svcctl.py"), "start"]
    argv += ["--dir", str(source_dir(work, system_id)), "--system", system_id]
    subprocess.run([*argv, "--location", "source"], check=True, capture_output=True)


def must(result: RunResult) -> RunResult:
    assert result.ok, result.outcomes
    return result


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warm]:
    base = tmp_path_factory.mktemp("warm")
    work = base / "work"
    try:
        for sid in SYSTEM_IDS:
            prepare_source(work, sid, 3, 24_000, seed="warm")
        faults = FaultPlan()
        runner = PhaseRunner(
            playbook_dir=PLAYBOOK_DIR,
            artifacts_dir=base / "artifacts",
            provider=LocalProvider(work_root=work),
            # The retention reaches the role as a host var, here by a hook as the faults do.
            host_vars_hooks=[faults.host_vars, retention_vars({GONE: 0})],
        )
        done = Warm(work=work, runner=runner, faults=faults)
        migrate(done)
        yield done
    finally:
        stop_services(work)


def migrate(warm: Warm) -> None:
    """Every step, in order; the tests read what each saw."""
    for phase in BEFORE_CUTOVER:
        must(warm.run(str(phase), phase, *SYSTEM_IDS))

    # Ready: clients keep writing to the source (one file added, one deleted), and a
    # delta pass catches up.
    source = read_name_record(warm.work, WARM)
    put(source, "late.bin", WRITTEN_WHILE_READY)
    (source_dir(warm.work, WARM) / "data" / "part-0002.bin").unlink()
    must(warm.run("delta", Phase.REPLICATE, WARM))
    warm.seen["replica after delta"] = data_files(warm.instance())
    warm.seen["source at delta"] = data_files(source_dir(warm.work, WARM))

    warm.seen["record before rehearsal"] = name_record_path(warm.work, WARM).read_text()
    warm.run("rehearse", Phase.REHEARSE, WARM)
    warm.seen["after rehearsal"] = warm.rehearsal_leftovers()
    warm.seen["record after rehearsal"] = name_record_path(warm.work, WARM).read_text()
    warm.seen["source after rehearsal"] = fetch_health(read_name_record(warm.work, WARM))
    warm.seen["replica after rehearsal"] = data_files(warm.instance())
    warm.faults.inject(WARM, Phase.REHEARSE)
    warm.run("rehearse fault", Phase.REHEARSE, WARM)
    warm.seen["after failed rehearsal"] = warm.rehearsal_leftovers()
    warm.seen["record after failed rehearsal"] = name_record_path(warm.work, WARM).read_text()

    # One more write after the last delta: the cutover's final pass carries it.
    put(source, "last.bin", WRITTEN_LAST)
    warm.seen["quiesced checksum"] = fetch_health(source)["checksum"]
    must(warm.run("cutover", Phase.CUTOVER, *SYSTEM_IDS))
    must(warm.run("verify", Phase.VERIFY, *SYSTEM_IDS))
    migrated = read_name_record(warm.work, WARM)
    warm.seen["migrated health"] = fetch_health(migrated)
    warm.seen["migrated data"] = data_files(warm.instance())

    # Completed: a client writes through the migrated service, and the instance
    # drops a file; then the way back.
    put(migrated, "after-cutover.bin", WRITTEN_AFTER_CUTOVER)
    (warm.instance() / "data" / "part-0000.bin").unlink()
    warm.seen["instance checksum"] = fetch_health(migrated)["checksum"]
    warm.seen["instance data"] = data_files(warm.instance())
    warm.run("revert", Phase.REVERT, WARM)
    warm.seen["source data after revert"] = data_files(source_dir(warm.work, WARM))
    warm.run("revert again", Phase.REVERT, WARM)
    warm.seen["source data after second revert"] = data_files(source_dir(warm.work, WARM))

    # A revert that crashed after it stopped the instance and started the source,
    # before the name record pointed back; and one whose instance lost its data.
    put(read_name_record(warm.work, CRASHED), "after-cutover.bin", WRITTEN_AFTER_CUTOVER)
    stop_service(warm.instance(CRASHED))
    start_source(warm.work, CRASHED)
    shutil.rmtree(warm.instance(NO_DATA) / "data")
    warm.seen["no-data source before revert"] = data_files(source_dir(warm.work, NO_DATA))
    warm.run("revert crashed", Phase.REVERT, CRASHED, NO_DATA)

    warm.run("finalize", Phase.FINALIZE, KEPT, GONE)
    warm.seen["kept mark"] = json.loads(
        (source_dir(warm.work, KEPT) / "finalized.json").read_text()
    )
    time.sleep(1.1)  # a second mark would carry a later date
    warm.run("finalize again", Phase.FINALIZE, KEPT, GONE)
    warm.faults.inject(KEPT, Phase.FINALIZE)
    warm.run("finalize fault", Phase.FINALIZE, KEPT)
    warm.run("finalize reverted", Phase.FINALIZE, WARM)


def test_a_delta_pass_carries_the_writes_made_while_ready(warm: Warm) -> None:
    report = warm.outcome("delta").report
    assert report["replication_pass"] == "delta"
    assert count(report, "bytes_sent") > 0
    replica = warm.seen["replica after delta"]
    assert replica["late.bin"] == WRITTEN_WHILE_READY
    assert "part-0002.bin" not in replica  # deleted on the source, so on the replica too
    assert replica == warm.seen["source at delta"]


def test_rehearsal_reports_and_leaves_nothing_behind(warm: Warm) -> None:
    outcome = warm.outcome("rehearse")
    assert outcome.ok, outcome
    assert outcome.report["rehearsal_name"] == f"{WARM}.rehearsal"
    assert count(outcome.report, "rehearsal_ms") < 60_000
    assert warm.seen["after rehearsal"] == {
        "test record": False,
        "scratch dir": False,
        "test service": False,
    }
    assert warm.seen["record after rehearsal"] == warm.seen["record before rehearsal"]
    source = warm.seen["source after rehearsal"]
    assert (source["location"], source["status"]) == ("source", "ok")
    assert warm.seen["replica after rehearsal"] == warm.seen["replica after delta"]


def test_a_failed_rehearsal_is_torn_down(warm: Warm) -> None:
    outcome = warm.outcome("rehearse fault")
    assert not outcome.ok
    assert outcome.failed_task == "Check the rehearsal served the replica and left the source alone"
    assert "rehearsal failed" in str(outcome.message)
    assert warm.seen["after failed rehearsal"] == {
        "test record": False,
        "scratch dir": False,
        "test service": False,
    }
    assert warm.seen["record after failed rehearsal"] == warm.seen["record before rehearsal"]


def test_cutover_moves_the_data_written_during_replication(warm: Warm) -> None:
    health = warm.seen["migrated health"]
    assert health["location"] == NODE.node_id
    assert health["checksum"] == warm.seen["quiesced checksum"]
    assert warm.seen["migrated data"]["late.bin"] == WRITTEN_WHILE_READY
    assert warm.seen["migrated data"]["last.bin"] == WRITTEN_LAST
    report = warm.outcome("cutover").report
    assert count(report, "downtime_ms") < 60_000
    # The final pass sent only what changed since the delta: the one file written since.
    assert count(report, "bytes_sent") == len(WRITTEN_LAST)


def test_revert_brings_back_what_the_instance_wrote(warm: Warm) -> None:
    outcome = warm.outcome("revert")
    assert outcome.ok, outcome
    report = outcome.report
    assert report["replication_pass"] == "reverse"
    assert count(report, "bytes_sent") > 0
    assert count(report, "transfer_ms") < 60_000
    assert count(report, "downtime_ms") < 60_000
    data = warm.seen["source data after revert"]
    assert data == warm.seen["instance data"]
    assert data["after-cutover.bin"] == WRITTEN_AFTER_CUTOVER
    assert "part-0000.bin" not in data  # deleted on the instance, so on the source too


def test_the_source_serves_again_after_revert(warm: Warm) -> None:
    record = read_name_record(warm.work, WARM)
    assert record.location == "source"
    health = fetch_health(record)
    assert (health["location"], health["checksum"]) == ("source", warm.seen["instance checksum"])
    assert not warm.instance().exists()
    assert running_from(source_dir(warm.work, WARM))


def test_a_second_revert_is_harmless(warm: Warm) -> None:
    outcome = warm.outcome("revert again")
    assert outcome.ok, outcome
    assert "replication_pass" not in outcome.report  # nothing copied twice
    assert warm.seen["source data after second revert"] == warm.seen["source data after revert"]


def test_a_revert_resumed_after_a_crash_still_brings_the_data_back(warm: Warm) -> None:
    outcome = warm.outcome("revert crashed", CRASHED)
    assert outcome.ok, outcome
    assert outcome.report["replication_pass"] == "reverse"
    home = source_dir(warm.work, CRASHED)
    assert data_files(home)["after-cutover.bin"] == WRITTEN_AFTER_CUTOVER
    record = read_name_record(warm.work, CRASHED)
    assert (record.location, fetch_health(record)["location"]) == ("source", "source")


def test_a_revert_never_copies_from_an_instance_without_data(warm: Warm) -> None:
    outcome = warm.outcome("revert crashed", NO_DATA)
    assert outcome.ok, outcome
    assert "replication_pass" not in outcome.report
    assert count(outcome.report, "downtime_ms") < 60_000
    home = source_dir(warm.work, NO_DATA)
    assert data_files(home) == warm.seen["no-data source before revert"]
    assert len(data_files(home)) == 3
    assert read_name_record(warm.work, NO_DATA).location == "source"


def test_finalize_stops_the_source_and_keeps_it_for_the_retention(warm: Warm) -> None:
    outcome = warm.outcome("finalize", KEPT)
    assert outcome.ok, outcome
    home = source_dir(warm.work, KEPT)
    assert not running_from(home)
    assert (home / "data").is_dir()
    mark = json.loads((home / "finalized.json").read_text())
    assert set(mark) == {"system", "finalized_at", "remove_after"}
    assert mark["system"] == KEPT
    finalized = datetime.strptime(mark["finalized_at"], ISO).replace(tzinfo=UTC)
    remove_after = datetime.strptime(mark["remove_after"], ISO).replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - finalized) < timedelta(minutes=10)
    assert remove_after - finalized == timedelta(days=30)
    assert outcome.report == {
        "source_retained_until": mark["remove_after"],
        "source_removed": False,
    }
    # The instance still serves.
    assert fetch_health(read_name_record(warm.work, KEPT))["location"] == NODE.node_id


def test_finalize_with_no_retention_removes_the_source(warm: Warm) -> None:
    outcome = warm.outcome("finalize", GONE)
    assert outcome.ok, outcome
    assert outcome.report["source_removed"] is True
    assert str(outcome.report["source_retained_until"]).endswith("Z")
    assert not source_dir(warm.work, GONE).exists()
    assert fetch_health(read_name_record(warm.work, GONE))["location"] == NODE.node_id


def test_finalize_again_keeps_the_first_mark(warm: Warm) -> None:
    assert warm.results["finalize again"].ok, warm.results["finalize again"].outcomes
    home = source_dir(warm.work, KEPT)
    assert json.loads((home / "finalized.json").read_text()) == warm.seen["kept mark"]
    assert warm.outcome("finalize again", KEPT).report == warm.outcome("finalize", KEPT).report
    assert warm.outcome("finalize again", GONE).report == warm.outcome("finalize", GONE).report


def test_finalize_fails_when_injected_or_when_the_source_serves(warm: Warm) -> None:
    injected = warm.outcome("finalize fault", KEPT)
    assert not injected.ok
    reverted = warm.outcome("finalize reverted", WARM)
    assert not reverted.ok
    assert "the name record must point at the instance" in str(reverted.message)
    # Neither touched the source.
    assert running_from(source_dir(warm.work, WARM))
    assert not (source_dir(warm.work, WARM) / "finalized.json").exists()
