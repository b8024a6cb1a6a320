"""``svcctl.py sync`` and ``quiesce --to``: the ``local`` role's replication, run as the role
runs it (a fresh process on real directories): a mirror of the source's data as
``rsync -a --delete`` would make it, proved file by file, with what it copied."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.sample_data import write_sample_data

SVCCTL = PLAYBOOK_DIR / "files" / "svcctl.py"


def svcctl(*args: str | Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SVCCTL), *map(str, args)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def listing(data: Path) -> str:
    """The ``sha256sum`` listing of ``data``, sorted by relative path."""
    names = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    return "".join(
        f"{hashlib.sha256((data / name).read_bytes()).hexdigest()}  {name}\n" for name in names
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_sample_data(tmp_path / "source" / "data").parent


def test_a_full_pass_then_a_delta_mirrors_the_source_and_copies_only_the_changes(
    source: Path, tmp_path: Path
) -> None:
    target, manifest = tmp_path / "target", tmp_path / "manifest.sha256"
    full = svcctl("sync", "--dir", target, "--from", source, "--manifest-file", manifest)
    size = sum(p.stat().st_size for p in (source / "data").rglob("*") if p.is_file())
    assert (full["pass"], full["files"], full["bytes_sent"], full["corrupt"]) == (
        "full", 6, size, [],
    )  # fmt: skip
    assert listing(target / "data") == listing(source / "data") == manifest.read_text()
    assert full["checksum"] == hashlib.sha256(manifest.read_bytes()).hexdigest()

    (source / "data" / "file-0.bin").write_bytes(b"rewritten\n")
    (source / "data" / "file-1.bin").unlink()
    (target / "data" / "stray.txt").write_text("not on the source\n")
    delta = svcctl("sync", "--dir", target, "--from", source)
    assert (delta["pass"], delta["files"], delta["bytes_sent"]) == ("delta", 5, 10)
    assert listing(target / "data") == listing(source / "data")
    assert svcctl("sync", "--dir", target, "--from", source)["changed"] is False


def test_a_file_the_copy_got_wrong_is_named(source: Path, tmp_path: Path) -> None:
    synced = svcctl("sync", "--fault", "--dir", tmp_path / "target", "--from", source)
    assert synced["corrupt"] == ["file-0.bin"]
    assert (tmp_path / "target" / "data" / "file-0.bin").read_text() == "corrupted in transit\n"


@pytest.mark.parametrize("instance_data", ["empty", "missing"])
def test_a_source_without_files_changes_nothing_when_asked(
    tmp_path: Path, instance_data: str
) -> None:
    if instance_data == "empty":
        (tmp_path / "instance" / "data").mkdir(parents=True)
    kept = tmp_path / "source" / "data" / "kept.txt"
    kept.parent.mkdir(parents=True)
    kept.write_text("the source's own data\n")
    synced = svcctl(
        "sync", "--unless-empty", "--dir", tmp_path / "source", "--from", tmp_path / "instance"
    )
    assert (synced["changed"], synced["files"]) == (False, 0)
    assert kept.read_text() == "the source's own data\n"


def test_quiesce_to_a_directory_stops_the_source_then_syncs_it(
    source: Path, tmp_path: Path
) -> None:
    shutil.copy(PLAYBOOK_DIR / "files" / "service.py", source)
    started = svcctl("start", "--dir", source, "--system", "gz-permits", "--location", "source")
    assert started["changed"] is True
    target, manifest = tmp_path / "target", tmp_path / "manifest.sha256"
    try:
        quiesced = svcctl("quiesce", "--dir", source, "--to", target, "--manifest-file", manifest)
    finally:
        svcctl("stop", "--dir", source)
    assert quiesced["changed"] is True  # the service was stopped
    assert not (source / "service.pid").exists()
    assert isinstance(quiesced["stopped_at"], float)
    assert listing(target / "data") == manifest.read_text()
    assert quiesced["checksum"] == hashlib.sha256(manifest.read_bytes()).hexdigest()


def test_sync_without_a_source_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SVCCTL), "sync", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr.strip()) == (
        1,
        f"svcctl sync {tmp_path}: sync needs --from DIR",
    )


def test_transfer_reports_what_rsync_moved_and_indexes_this_host(
    source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target" / "data"
    target.parent.mkdir()
    rsync = ["rsync", "--archive", "--delete", "--stats", f"{source / 'data'}/", f"{target}/"]
    size = sum(p.stat().st_size for p in (source / "data").rglob("*") if p.is_file())
    full = svcctl("transfer", "--dir", source, "--", *rsync)
    assert (full["rsync"]["rc"], full["rsync"]["pass"]) == (0, "full")
    assert full["rsync"]["literal_bytes"] == size
    assert full["rsync"]["bytes_sent"] > size
    assert full["index"]["files"] == 6
    assert listing(target) == listing(source / "data")

    (source / "data" / "file-0.bin").write_bytes(b"rewritten\n")
    delta = svcctl("transfer", "--dir", source, "--", *rsync)
    assert (delta["rsync"]["pass"], delta["rsync"]["literal_bytes"]) == ("delta", 10)


def test_a_failed_transfer_exits_1_with_rsync_s_complaint_and_its_report(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    rsync = ["rsync", "--archive", "--stats", f"{tmp_path / 'missing'}/", f"{home / 'data'}/"]
    done = subprocess.run(
        [sys.executable, str(SVCCTL), "transfer", "--dir", str(home), "--", *rsync],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    assert (done.returncode, report["rsync"]["rc"], "index" in report) == (1, 23, False)
    assert done.stderr.startswith(f"svcctl transfer {home}: rsync exit 23: ")
    assert report["rsync"]["error"] in done.stderr
