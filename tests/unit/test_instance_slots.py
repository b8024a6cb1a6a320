"""Instance ids without ``--instance-id``: the lowest free slot on this host, across restarts."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from orchestrator.service import instance
from orchestrator.service.instance import slot_instance_id

HOST = socket.gethostname()[:60]
HOLD = textwrap.dedent(
    """\
    import sys, time
    from pathlib import Path
    from orchestrator.service.instance import slot_instance_id
    print(slot_instance_id(sys.argv[1], runtime_dir=Path(sys.argv[2])), flush=True)
    time.sleep(60)
    """
)


def holder(database: str, runtime: Path) -> tuple[subprocess.Popen[str], str]:
    """Another process holding a slot, and the id it got."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, database, str(runtime)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def end(process: subprocess.Popen[str]) -> None:
    process.kill()  # SIGKILL: no clean-up runs; the kernel releases its lock
    process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


def test_a_killed_instances_successor_takes_its_slot_and_a_live_ones_is_skipped(
    tmp_path: Path,
) -> None:
    first, first_id = holder("govmig.db", tmp_path)
    second, second_id = holder("govmig.db", tmp_path)
    try:
        assert (first_id, second_id) == (f"{HOST}-1", f"{HOST}-2")
        end(first)
        successor, successor_id = holder("govmig.db", tmp_path)
        end(successor)
        assert successor_id == f"{HOST}-1", "the restart is the same instance"
    finally:
        end(first)
        end(second)


def test_each_state_database_has_its_own_slots(tmp_path: Path) -> None:
    before = len(instance._held)
    try:
        one = slot_instance_id("postgresql+psycopg://a@db/one", runtime_dir=tmp_path)
        other = slot_instance_id("postgresql+psycopg://a@db/two", runtime_dir=tmp_path)
        again = slot_instance_id("postgresql+psycopg://a@db/one", runtime_dir=tmp_path)
    finally:
        for handle in instance._held[before:]:
            handle.close()
        del instance._held[before:]
    assert (one, other, again) == (f"{HOST}-1", f"{HOST}-1", f"{HOST}-2")


def test_the_slots_live_in_the_users_runtime_directory_else_the_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert instance.runtime_root() == tmp_path / "run"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    assert instance.runtime_root() == tmp_path / "tmp"
