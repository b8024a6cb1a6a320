"""``playbooks/files/service.py``'s digest cache: the same digest as hashing every file,
with only the files whose identity changed hashed again, in this process or a fresh one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file
from tests.fixtures.sample_data import write_sample_data

FILES = PLAYBOOK_DIR / "files"


def load() -> ModuleType:
    """A fresh ``service`` module: a new process, as far as its in-memory cache goes."""
    return load_file(FILES / "service.py")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_sample_data(tmp_path / "home" / "data")


def sha256sum_listing(data: Path) -> str:
    """What ``sha256sum`` prints for every file, sorted by relative path: today's format."""
    names = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    return "".join(f"{hashlib.sha256((data / n).read_bytes()).hexdigest()}  {n}\n" for n in names)


def hashed(monkeypatch: pytest.MonkeyPatch, service: ModuleType) -> list[str]:
    """The files the module reads to hash, by name, from now on."""
    read: list[str] = []
    real = service.file_sha256

    def spy(path: Path) -> str:
        read.append(path.name)
        return str(real(path))

    monkeypatch.setattr(service, "file_sha256", spy)
    return read


def ten_seconds_later() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME) + 10 * 10**9


@pytest.fixture
def settled_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled as soon as their ctime is behind the clock (a test's files
    are minutes old in a few milliseconds); each test still waits past a clock tick."""
    monkeypatch.setattr(time, "time_ns", ten_seconds_later)


def test_the_digest_is_the_same_with_and_without_the_cache(data: Path, settled_now: None) -> None:
    service = load()
    expected = sha256sum_listing(data)
    assert service.manifest(data, cached=False).text == expected
    assert service.manifest(data).text == expected  # fills the cache
    assert service.manifest(data).text == expected  # from memory
    assert load().manifest(data).text == expected  # from the file, in a fresh process
    assert service.data_checksum(data) == hashlib.sha256(expected.encode()).hexdigest()
    assert service.data_checksum(data) == service.data_checksum(data, cached=False)


def test_hashing_on_several_threads_gives_the_same_manifest_and_cache(
    monkeypatch: pytest.MonkeyPatch, data: Path, settled_now: None
) -> None:
    one, several = load(), load()
    expected = sha256sum_listing(data)
    assert several.manifest(data, workers=4).text == expected  # every file hashed, fills the cache
    read = hashed(monkeypatch, one)
    assert one.manifest(data).text == expected
    assert read == [], "the cache the threads wrote serves a fresh process"
    (data / "file-3.bin").write_bytes(os.urandom(3000))  # a new inode, size and ctime
    read = hashed(monkeypatch, several)
    assert several.manifest(data, workers=4).text == sha256sum_listing(data)
    assert read == ["file-3.bin"]


@pytest.mark.parametrize("cores", [[], ["--all-cores"]], ids=["one-thread", "all-cores"])
def test_svcctl_index_reports_the_data_s_checksum_files_and_bytes(
    data: Path, cores: list[str]
) -> None:
    argv = [sys.executable, str(FILES / "svcctl.py"), "index", *cores, "--dir", str(data.parent)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    expected = sha256sum_listing(data)
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    assert json.loads(done.stdout) == {
        "changed": False,
        "checksum": hashlib.sha256(expected.encode()).hexdigest(),
        "files": 6,
        "bytes": size,
    }


def test_unchanged_files_are_not_hashed_again_even_by_a_fresh_process(
    monkeypatch: pytest.MonkeyPatch, data: Path, settled_now: None
) -> None:
    first = load()
    read = hashed(monkeypatch, first)
    first.data_checksum(data)
    assert len(read) == 6
    read.clear()
    first.data_checksum(data)
    assert read == []
    fresh = load()
    read = hashed(monkeypatch, fresh)
    fresh.data_checksum(data)
    assert read == []


def test_a_rewritten_file_is_hashed_again(
    monkeypatch: pytest.MonkeyPatch, data: Path, settled_now: None
) -> None:
    service = load()
    service.data_checksum(data)
    time.sleep(0.05)  # past a clock tick, so the writes below stamp a later ctime
    in_place = data / "file-1.bin"
    before = in_place.stat()
    with in_place.open("r+b") as out:  # same size, same inode, other content
        out.write(os.urandom(before.st_size))
    os.utime(in_place, ns=(before.st_atime_ns, before.st_mtime_ns))  # the mtime put back
    after = in_place.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns
    )  # fmt: skip
    renamed = data / "file-2.bin"
    before = renamed.stat()
    tmp = data.parent / "incoming.tmp"
    tmp.write_bytes(os.urandom(before.st_size))
    os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
    tmp.replace(renamed)  # as rsync writes: a new inode, same size and mtime
    read = hashed(monkeypatch, service)
    assert service.manifest(data).text == sha256sum_listing(data)
    assert sorted(read) == ["file-1.bin", "file-2.bin"]
    # This process cached the new digests: a fresh one reads nothing.
    fresh = load()
    read = hashed(monkeypatch, fresh)
    assert fresh.manifest(data).text == sha256sum_listing(data)
    assert read == []


def test_added_and_removed_files_show_in_the_digest(data: Path, settled_now: None) -> None:
    service = load()
    service.data_checksum(data)
    (data / "file-0.bin").unlink()
    (data / "new.bin").write_bytes(b"new")
    assert service.manifest(data).text == sha256sum_listing(data)
    assert load().manifest(data).text == sha256sum_listing(data)


def test_a_file_written_just_now_is_not_cached(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    service = load()
    service.data_checksum(data)  # every file was written a moment ago: none settled
    read = hashed(monkeypatch, service)
    service.data_checksum(data)
    assert len(read) == 6


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"version": 1, "files": {"file-0.bin": [1, 2]}}', b"[]",
     b'{"version": 99, "files": {}}', b'{"version": 1, "files": {"file-0.bin": [1, 2, 3, 4, 5]}}'],
    ids=["empty", "torn", "short-entry", "not-an-object", "other-version", "bad-digest"],
)  # fmt: skip
def test_a_corrupt_cache_file_is_ignored(data: Path, settled_now: None, content: bytes) -> None:
    service = load()
    where = service.digests_path(data)
    where.write_bytes(content)
    assert service.manifest(data).text == sha256sum_listing(data)
    assert load().manifest(data).text == sha256sum_listing(data)  # and rewritten whole


def test_a_lying_cache_entry_for_another_identity_is_not_believed(
    data: Path, settled_now: None
) -> None:
    service = load()
    service.data_checksum(data)
    where = service.digests_path(data)
    text = where.read_text()
    digest = hashlib.sha256((data / "file-3.bin").read_bytes()).hexdigest()
    where.write_text(text.replace(digest, "0" * 64))  # a stale digest, under its identity
    assert "0" * 64 in load().manifest(data).text  # the identity matches: it is believed
    time.sleep(0.05)
    (data / "file-3.bin").write_bytes(b"changed")
    assert load().manifest(data).text == sha256sum_listing(data)


def test_the_cache_file_lives_beside_the_data_never_inside(data: Path, settled_now: None) -> None:
    service = load()
    service.data_checksum(data)
    where = service.digests_path(data)
    assert where == data.parent / "data.digests.json"
    assert where.is_file()
    assert service.digests_path(Path(f"{data}/")) == where  # a trailing slash, as the roles pass
    assert not [p for p in data.rglob("*") if "digests" in p.name or p.name.endswith(".tmp")]
    assert "digests" not in service.manifest(data).text


def test_an_unwritable_cache_does_not_fail(
    monkeypatch: pytest.MonkeyPatch, data: Path, settled_now: None
) -> None:
    service = load()
    monkeypatch.setattr(service, "digests_path", lambda _d: data.parent / "missing" / "x.json")
    assert service.manifest(data).text == sha256sum_listing(data)


def test_a_running_process_takes_what_another_one_hashed_since(
    monkeypatch: pytest.MonkeyPatch, data: Path, settled_now: None
) -> None:
    running = load()  # a long-running service
    running.data_checksum(data)
    time.sleep(0.05)
    (data / "file-4.bin").write_bytes(os.urandom(100))
    indexer = load()  # an index after a replicate pass, in a process of its own
    indexer.data_checksum(data)
    read = hashed(monkeypatch, running)
    assert running.manifest(data).text == sha256sum_listing(data)
    assert read == []
