"""The cache a managed host's Mitogen interpreter keeps its compiled modules in
(``playbooks/plugin_utils/govmig_host_code.py``): a module compiled once is loaded again,
the same code, until anything it depends on changes; compiles that are not a module's
import pass through; a damaged entry is compiled again; a directory others could write is
not used; entries unused for a month go, at most once a day; ``install`` gives Mitogen's
importer and module runner the cached compile. Python's own ``compile`` does the work;
test_mitogen_strategy runs it in real Mitogen interpreters."""

from __future__ import annotations

import builtins
import marshal
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import ansible_mitogen.runner
import mitogen.core
import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file

SOURCE = "ANSWER = 6 * 7\n"
DAY_S = 24 * 3600


@pytest.fixture
def host_code() -> ModuleType:
    return load_file(PLAYBOOK_DIR / "plugin_utils" / "govmig_host_code.py")


class Counting:
    """Python's ``compile``, counting the calls that reach it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return builtins.compile(*args)


@pytest.fixture
def counting() -> Counting:
    return Counting()


@pytest.fixture
def cached(host_code: ModuleType, counting: Counting, tmp_path: Path) -> Callable[..., Any]:
    return host_code.cached_compile(counting, tmp_path)  # type: ignore[no-any-return]


def entries(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if not path.name.startswith("."))


def run(code: CodeType) -> object:
    namespace: dict[str, object] = {}
    exec(code, namespace)
    return namespace["ANSWER"]


def test_a_module_compiled_once_is_loaded_again_from_the_cache(
    cached: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    first = cached(SOURCE, "master:/site/answer.py", "exec", 0, 1)
    again = cached(SOURCE, "master:/site/answer.py", "exec", 0, 1)  # a later run's interpreter

    assert counting.calls == 1
    assert again == first
    assert again.co_filename == "master:/site/answer.py"
    assert run(again) == 42
    assert len(entries(tmp_path)) == 1


@pytest.mark.parametrize(
    "changed",
    [
        ("ANSWER = 43\n", "master:/site/answer.py", -1),  # the source
        (SOURCE, "master:/site/other.py", -1),  # the file name the code carries
        (SOURCE, "master:/site/answer.py", 2),  # the optimisation level
        (SOURCE.encode(), "master:/site/answer.py", -1),  # bytes honour a coding declaration
    ],
)
def test_anything_the_code_depends_on_makes_another_entry(
    cached: Callable[..., Any], counting: Counting, tmp_path: Path, changed: tuple[Any, str, int]
) -> None:
    cached(SOURCE, "master:/site/answer.py", "exec", 0, 1, -1)
    source, filename, optimize = changed
    code = cached(source, filename, "exec", 0, 1, optimize)

    assert counting.calls == 2
    assert code.co_filename == filename
    assert len(entries(tmp_path)) == 2


@pytest.mark.parametrize(
    ("mode", "flags", "dont_inherit"),
    [("eval", 0, True), ("exec", 0, False), ("exec", 0x20000, True)],
    ids=["eval", "inherits-future-flags", "given-flags"],
)
def test_a_compile_that_is_not_a_module_import_passes_through(
    cached: Callable[..., Any],
    counting: Counting,
    tmp_path: Path,
    mode: str,
    flags: int,
    dont_inherit: bool,
) -> None:
    for _ in range(2):
        cached("6 * 7", "<expr>", mode, flags, dont_inherit)

    assert counting.calls == 2
    assert entries(tmp_path) == []


def test_a_damaged_entry_is_compiled_again_and_replaced(
    cached: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    cached(SOURCE, "answer.py", "exec", 0, 1)
    [entry] = entries(tmp_path)
    entry.write_bytes(b"\x00not marshal")

    code = cached(SOURCE, "answer.py", "exec", 0, 1)
    assert counting.calls == 2
    assert run(code) == 42
    assert isinstance(marshal.loads(entry.read_bytes()), CodeType)


def test_an_entry_that_is_not_code_is_not_run(
    cached: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    cached(SOURCE, "answer.py", "exec", 0, 1)
    [entry] = entries(tmp_path)
    entry.write_bytes(marshal.dumps(("not", "code")))

    assert run(cached(SOURCE, "answer.py", "exec", 0, 1)) == 42
    assert counting.calls == 2


def test_a_cache_removed_meanwhile_costs_only_the_compile(
    host_code: ModuleType, counting: Counting, tmp_path: Path
) -> None:
    directory = tmp_path / "cleared"
    directory.mkdir()
    cached = host_code.cached_compile(counting, directory)
    directory.rmdir()  # an operator cleared the cache while an interpreter ran

    assert run(cached(SOURCE, "answer.py", "exec", 0, 1)) == 42
    assert not directory.exists()


def test_the_cache_is_the_users_own_and_private(host_code: ModuleType, tmp_path: Path) -> None:
    directory = host_code.cache_dir({"XDG_CACHE_HOME": str(tmp_path / "cache")})

    assert directory.parent == tmp_path / "cache" / "govmig" / "host-code"
    assert directory.stat().st_mode & 0o777 == 0o700


def test_a_directory_others_may_write_is_not_used(host_code: ModuleType, tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    directory = host_code.cache_dir(environ)
    directory.chmod(0o777)
    assert host_code.cache_dir(environ) is None
    directory.chmod(0o700)
    assert host_code.cache_dir(environ) == directory


def test_nor_one_below_a_directory_others_may_change(host_code: ModuleType, tmp_path: Path) -> None:
    """Root's interpreter may be told a login user's home: that user could move the cache's
    directory aside and put in code of theirs."""
    environ = {"XDG_CACHE_HOME": str(tmp_path / "home" / ".cache")}
    directory = host_code.cache_dir(environ)
    above = tmp_path / "home"
    above.chmod(0o777)
    assert host_code.cache_dir(environ) is None
    above.chmod(0o1777)  # sticky, as /tmp: nobody else may move what is ours
    assert host_code.cache_dir(environ) == directory
    above.chmod(0o755)
    if os.geteuid() == 0:  # as root, a directory of another user's
        os.chown(above, 65534, 65534)
        assert host_code.cache_dir(environ) is None


def test_the_cache_is_found_where_a_link_leads(host_code: ModuleType, tmp_path: Path) -> None:
    """Its path is the link's target: a link changed later does not lead elsewhere."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")

    directory = host_code.cache_dir({"XDG_CACHE_HOME": str(tmp_path / "link")})
    assert directory.is_relative_to(tmp_path.resolve() / "real")


def test_no_cache_where_none_can_be_made(host_code: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    assert host_code.cache_dir({"XDG_CACHE_HOME": str(tmp_path / "file")}) is None


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_entries_unused_for_a_month_are_removed_once_a_day(
    host_code: ModuleType, cached: Callable[..., Any], tmp_path: Path
) -> None:
    cached(SOURCE, "kept.py", "exec", 0, 1)
    cached(SOURCE, "stale.py", "exec", 0, 1)
    kept, stale = (
        tmp_path / host_code.entry_key(SOURCE, name, -1) for name in ("kept.py", "stale.py")
    )
    half_written = tmp_path / ".entry-killed"
    half_written.write_bytes(b"")
    age(stale, 31 * DAY_S)
    age(kept, 29 * DAY_S)
    age(half_written, 2 * DAY_S)

    host_code.prune(tmp_path, time.time())
    assert entries(tmp_path) == [kept]
    assert not half_written.exists()

    age(kept, 31 * DAY_S)  # within the day: not looked over again
    host_code.prune(tmp_path, time.time())
    assert entries(tmp_path) == [kept]


def test_an_entry_used_is_touched_once_a_day(
    host_code: ModuleType, cached: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    cached(SOURCE, "answer.py", "exec", 0, 1)
    [entry] = entries(tmp_path)
    age(entry, 2 * DAY_S)

    cached(SOURCE, "answer.py", "exec", 0, 1)
    assert time.time() - entry.stat().st_mtime < DAY_S
    assert counting.calls == 1


@pytest.fixture
def compiles() -> Iterator[None]:
    """Mitogen's importer and module runner compile with Python's own again afterwards."""
    yield
    for module in (mitogen.core, ansible_mitogen.runner):
        vars(module).pop("compile", None)


@pytest.mark.usefixtures("compiles")
def test_install_gives_mitogens_importer_and_module_runner_the_cached_compile(
    host_code: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    assert host_code.install() is True
    code = mitogen.core.compile(SOURCE, "answer.py", "exec", 0, 1)
    assert ansible_mitogen.runner.compile is mitogen.core.compile
    assert run(code) == 42
    [directory] = (tmp_path / "govmig" / "host-code").iterdir()
    assert len(entries(directory)) == 1
