"""Three real systems moved onto a node, one batch per phase, through real ansible-runner.

One module-scoped run takes three sources (each a real service on a loopback
port) through preflight, provision, replicate, cutover and verify, running
every phase twice, and the tests check what a client would see: the name
record points at the instance, the instance answers with the source's data,
the sources are stopped, each journal has exactly one cutover, and a second
run of any phase changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType

import mitogen.master
import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import NodeTarget, RunResult, SystemTarget
from orchestrator.execution.runner import PhaseRunner, kept_events
from orchestrator.migrations.states import FORWARD_PHASES, Phase
from orchestrator.providers import LocalProvider
from orchestrator.providers.local_sandbox import (
    NameRecord,
    fetch_health,
    instance_dir,
    prepare_source,
    read_name_record,
    source_dir,
    stop_services,
)
from tests.fixtures.targets import system_target

pytestmark = pytest.mark.ansible

NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
SYSTEM_IDS = ("gz-permits", "st-tax", "sg-clinics")
SECRET = f"tok-{uuid.uuid4().hex}"
ENV_SECRET = f"pw-{uuid.uuid4().hex}"


def targets() -> list[SystemTarget]:
    return [
        system_target(
            system_id,
            index + 1,
            vcpu=4,
            memory_gb=16,
            storage_gb=200,
            free_vcpu=100,
            free_memory_gb=400,
            free_storage_gb=5000,
        )
        for index, system_id in enumerate(SYSTEM_IDS)
    ]


def snapshot(work: Path) -> dict[str, str]:
    """Every file of the sandbox by content digest, but the service logs and the digest
    caches (``data.digests.json``): a cache is no state, and a second run may cache a file
    the first copied too recently to cache (``service.py``'s ``settled``)."""
    return {
        str(path.relative_to(work)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(work.rglob("*"))
        if path.is_file() and path.name not in ("service.log", "data.digests.json")
    }


@dataclass
class Migration:
    work: Path
    artifacts: Path
    runner: PhaseRunner
    sources: dict[str, NameRecord]
    checksums: dict[str, object]
    first: dict[Phase, RunResult] = field(default_factory=dict)
    again: dict[Phase, RunResult] = field(default_factory=dict)
    unchanged: dict[Phase, bool] = field(default_factory=dict)


@pytest.fixture(scope="module")
def migration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migration]:
    base = tmp_path_factory.mktemp("executor")
    work, artifacts = base / "work", base / "artifacts"
    try:
        sources = {sid: prepare_source(work, sid, 4, 64_000, seed=7) for sid in SYSTEM_IDS}
        done = Migration(
            work=work,
            artifacts=artifacts,
            runner=PhaseRunner(
                playbook_dir=PLAYBOOK_DIR,
                artifacts_dir=artifacts,
                provider=LocalProvider(work_root=work),
            ),
            sources=sources,
            checksums={sid: fetch_health(record)["checksum"] for sid, record in sources.items()},
        )
        with pytest.MonkeyPatch.context() as env:
            # A credential in the orchestrator's environment must not reach the artifacts.
            env.setenv("GOVMIG_SASL_PLAIN_PASSWORD", ENV_SECRET)
            # Where govmig_mitogen keeps the modules it built: new for these runs.
            env.setenv("XDG_CACHE_HOME", str(base / "cache"))
            for phase in FORWARD_PHASES:
                run_twice(done, phase)
        yield done
    finally:
        stop_services(work)


def run_twice(done: Migration, phase: Phase) -> None:
    secrets = {"govmig_secret_service_token": SECRET}
    done.first[phase] = done.runner.run(phase, [(NODE, targets())], secrets=secrets)
    before = snapshot(done.work)
    done.again[phase] = done.runner.run(phase, [(NODE, targets())], secrets=secrets)
    done.unchanged[phase] = snapshot(done.work) == before


@pytest.mark.parametrize("phase", FORWARD_PHASES, ids=str)
def test_every_phase_succeeds_for_every_system(migration: Migration, phase: Phase) -> None:
    for result in (migration.first[phase], migration.again[phase]):
        assert (result.status, result.rc) == ("successful", 0), result.outcomes
        assert [o.system_id for o in result.outcomes] == list(SYSTEM_IDS)
        assert all(o.ok and o.failed_task is None for o in result.outcomes)


@pytest.mark.parametrize("phase", FORWARD_PHASES, ids=str)
def test_running_a_phase_twice_changes_nothing(migration: Migration, phase: Phase) -> None:
    assert migration.unchanged[phase]


def test_name_record_points_at_the_instance_which_serves_the_source_data(
    migration: Migration,
) -> None:
    for sid in SYSTEM_IDS:
        record = read_name_record(migration.work, sid)
        assert (record.host, record.location) == ("127.0.0.1", NODE.node_id)
        health = fetch_health(record)
        assert health == {
            "system": sid,
            "location": NODE.node_id,
            "status": "ok",
            "checksum": migration.checksums[sid],
        }


def test_instance_data_matches_the_source_manifest(migration: Migration) -> None:
    for sid in SYSTEM_IDS:
        source, target = (
            source_dir(migration.work, sid),
            instance_dir(migration.work, "shantou", sid),
        )
        manifest = (source / "manifest.sha256").read_text().splitlines()
        assert len(manifest) == 4
        for line in manifest:
            digest, name = line.split("  ")
            assert hashlib.sha256((target / "data" / name).read_bytes()).hexdigest() == digest


def running_from(home: Path) -> list[int]:
    """Pids of processes running ``home/service.py``."""
    script = str(home / "service.py").encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if script in (proc / "cmdline").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_sources_are_stopped(migration: Migration) -> None:
    for sid in SYSTEM_IDS:
        home = source_dir(migration.work, sid)
        assert not (home / "service.pid").exists()
        assert running_from(home) == []
        assert len(running_from(instance_dir(migration.work, "shantou", sid))) == 1


def test_journal_has_one_cutover_per_system(migration: Migration) -> None:
    for sid in SYSTEM_IDS:
        journal = instance_dir(migration.work, "shantou", sid) / "journal.log"
        (line,) = journal.read_text().splitlines()
        assert line.startswith(f"cutover {sid} 20")


def test_instance_records_quota_and_network(migration: Migration) -> None:
    home = instance_dir(migration.work, "shantou", "st-tax")
    quota = json.loads((home / "quota.json").read_text())
    network = json.loads((home / "network.json").read_text())
    assert quota == {"vcpu": 4, "memory_gb": 16, "storage_gb": 200}
    assert network == {
        "node": "shantou",
        "ipv6_prefix": "2001:db8:1::/48",
        "ipv6_address": "2001:db8:1::2",
    }


def test_a_batch_is_one_runner_invocation(migration: Migration) -> None:
    runs = 2 * len(FORWARD_PHASES)
    assert migration.runner.invocations == runs
    assert len(list(migration.artifacts.iterdir())) == runs
    for result in migration.first.values():
        assert result.artifact_dir.parent == migration.artifacts
        assert (result.artifact_dir / "status").read_text() == "successful"
        hosts = {event["event_data"].get("host") for event in kept_events(result.artifact_dir)}
        assert hosts - {None} == set(SYSTEM_IDS)


def test_secrets_are_placed_but_never_recorded(migration: Migration) -> None:
    credential = instance_dir(migration.work, "shantou", "gz-permits") / "credential"
    assert credential.read_text() == f"{SECRET}\n"
    assert credential.stat().st_mode & 0o777 == 0o600
    for path in migration.artifacts.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert SECRET.encode() not in text, path
            assert ENV_SECRET.encode() not in text, path


def test_mitogen_keeps_the_templates_its_workers_compiled_privately_and_no_secret(
    migration: Migration,
) -> None:
    (directory,) = (migration.work.parent / "cache" / "govmig" / "jinja-code").iterdir()
    assert directory.stat().st_mode & 0o777 == 0o700
    entries = list(directory.iterdir())
    assert len(entries) > 20, "the workers' templates were compiled and kept"
    for entry in entries:
        record = entry.read_bytes()
        code, uses = marshal.loads(record)
        assert isinstance(code, CodeType)
        assert isinstance(uses, list)
        assert SECRET.encode() not in record


def test_mitogen_is_used(migration: Migration) -> None:
    assert {result.strategy for result in migration.first.values()} == {"govmig_mitogen"}


def test_mitogen_keeps_the_modules_it_served_privately_as_their_files_are(
    migration: Migration,
) -> None:
    (directory,) = (migration.work.parent / "cache" / "govmig" / "mitogen-modules").iterdir()
    assert directory.stat().st_mode & 0o777 == 0o700
    entries = {entry.name: entry for entry in directory.iterdir()}
    assert {"ansible.module_utils.basic", "ansible_mitogen.runner"} <= entries.keys()
    # An entry: the file it was built from, that file's stamp, and the module as sent.
    path, _stamp, _children, compressed, _related = marshal.loads(
        entries["ansible.module_utils.basic"].read_bytes()
    )
    assert zlib.decompress(compressed) == Path(path).read_bytes()
    assert Path(path).name == "basic.py"
    # And mitogen.core as every host's bootstrap is sent it, minified once, not every run.
    _stamps, core = marshal.loads(entries["@mitogen.core.minified"].read_bytes())
    assert core == mitogen.master._get_core_source()


def test_runs_start_in_the_playbooks_directory_and_take_its_ansible_cfg(
    migration: Migration,
) -> None:
    # ansible-runner starts each ansible-playbook in the project, where Ansible reads
    # playbooks/ansible.cfg: the same environment, asked the same way, sees its settings.
    for result in migration.first.values():
        command = json.loads((result.artifact_dir / "command").read_text())
        assert Path(command["cwd"]) == PLAYBOOK_DIR
        env = {**command["env"], "PATH": str(Path(sys.executable).parent)}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-config"), "dump", "--only-changed"],
            cwd=command["cwd"], env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        config = PLAYBOOK_DIR / "ansible.cfg"
        assert f"DEFAULT_INTERNAL_POLL_INTERVAL({config}) = 0.005" in done.stdout
        assert f"INJECT_FACTS_AS_VARS({config}) = False" in done.stdout
