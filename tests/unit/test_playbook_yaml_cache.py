"""How ``ansible-playbook`` starts under govmig (``playbooks/plugin_utils/govmig_playbook.py``):
a document parsed where ansible-core parses its own data or a plugin's documentation is
parsed once, then read from the cache, the same data with the same tags, until its bytes
or its tags change; a document parsed anywhere else (a user's data) is never kept, nor
one that cannot be pickled or read twice; a damaged entry is parsed again; the launcher
runs the program it is given as that program's own script would run, and names one it
cannot find. test_playbook_start runs real ansible-playbook through it."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
from ansible.module_utils._internal._datatag import AnsibleTagHelper
from ansible.parsing.yaml.loader import AnsibleLoader

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file

PLUGIN_UTILS = PLAYBOOK_DIR / "plugin_utils"
LAUNCHER = PLUGIN_UTILS / "govmig_playbook.py"
ROUTING = "plugin_routing:\n" + "".join(
    f"  module_{n}:\n    redirect: ns.col.module_{n}\n    tags: [a, b]\n" for n in range(50)
)
DOCUMENTATION = """
name: example
short_description: a plugin's documentation
options:
  timeout:
    description: how long to wait
    default: 10
    type: int
"""
# The test's stand-in for ansible-core's functions that parse its own documents.
OWN = frozenset({("tests/unit/test_playbook_yaml_cache.py", "as_ansible_parses")})


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(PLUGIN_UTILS))  # as when run as a script: beside it
    return load_file(LAUNCHER)


class Counting:
    """PyYAML's ``load``, counting the calls that reach it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, stream: Any, Loader: Any) -> Any:  # noqa: N803 - yaml.load's name
        self.calls += 1
        return yaml.load(stream, Loader)


@pytest.fixture
def counting() -> Counting:
    return Counting()


@pytest.fixture
def load(launcher: ModuleType, counting: Counting, tmp_path: Path) -> Callable[..., Any]:
    return launcher.cached_load(counting, tmp_path, OWN)  # type: ignore[no-any-return]


def as_ansible_parses(load: Callable[..., Any], document: Any, loader: Any) -> Any:
    return load(document, Loader=loader)


def as_a_user_parses(load: Callable[..., Any], document: Any, loader: Any) -> Any:
    return load(document, Loader=loader)


def entries(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if not path.name.startswith("."))


@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader", "CBaseLoader", "BaseLoader"])
def test_a_document_ansible_parses_is_parsed_once_then_read_back_the_same(
    load: Callable[..., Any], counting: Counting, tmp_path: Path, loader: str
) -> None:
    Loader = getattr(yaml, loader)  # noqa: N806
    first = as_ansible_parses(load, ROUTING, Loader)
    again = as_ansible_parses(load, ROUTING, Loader)
    assert first == again == yaml.load(ROUTING, Loader)
    assert first is not again  # each caller's own to change
    assert counting.calls == 1
    assert len(entries(tmp_path)) == 1


def test_a_plugins_documentation_comes_back_with_its_origin_and_trust(
    load: Callable[..., Any], counting: Counting
) -> None:
    def tagged(path: str) -> str:
        return Origin(path=path).tag(TrustedAsTemplate().tag(DOCUMENTATION))  # type: ignore[no-any-return]

    parsed = [as_ansible_parses(load, tagged("/plugins/a.py"), AnsibleLoader) for _ in range(2)]
    elsewhere = as_ansible_parses(load, tagged("/plugins/b.py"), AnsibleLoader)
    assert counting.calls == 2  # another origin is another entry
    first, again = parsed
    assert first == again == elsewhere
    description = again["options"]["timeout"]["description"]
    tags = AnsibleTagHelper.tags(description)
    assert TrustedAsTemplate() in tags
    assert Origin(path="/plugins/a.py", line_num=6, col_num=18) in tags
    assert AnsibleTagHelper.tags(description) == AnsibleTagHelper.tags(
        first["options"]["timeout"]["description"]
    )


def test_a_changed_document_another_loader_or_bytes_is_another_entry(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    changed = ROUTING.replace("module_7:", "module_seven:")
    as_ansible_parses(load, ROUTING, yaml.CSafeLoader)
    assert "module_seven" in as_ansible_parses(load, changed, yaml.CSafeLoader)["plugin_routing"]
    as_ansible_parses(load, ROUTING, yaml.CBaseLoader)
    as_ansible_parses(load, ROUTING.encode(), yaml.CSafeLoader)
    assert counting.calls == 4
    assert len(entries(tmp_path)) == 4


def test_a_document_parsed_anywhere_else_is_parsed_every_time_and_never_kept(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    secret = "govmig_secret_tsig: c2VjcmV0\n" + ROUTING
    for _ in range(2):
        assert as_a_user_parses(load, secret, yaml.CSafeLoader)["govmig_secret_tsig"]
        assert as_a_user_parses(load, DOCUMENTATION, AnsibleLoader)["name"] == "example"
    assert counting.calls == 4
    assert entries(tmp_path) == []


def test_data_pickle_cannot_keep_is_returned_and_parsed_again(
    launcher: ModuleType, counting: Counting, tmp_path: Path
) -> None:
    def unpicklable(stream: Any, Loader: Any) -> Any:  # noqa: N803 - yaml.load's name
        return {"parsed": counting(stream, Loader), "made": lambda: None}

    load = launcher.cached_load(unpicklable, tmp_path, OWN)
    for _ in range(2):
        parsed = as_ansible_parses(load, ROUTING + "released: 2026-12-06\n", yaml.CSafeLoader)
        assert parsed["parsed"]["released"] == date(2026, 12, 6)
    assert counting.calls == 2
    assert entries(tmp_path) == []


def test_a_file_is_read_from_where_it_was_on_a_miss_and_from_the_cache_after(
    load: Callable[..., Any], counting: Counting
) -> None:
    for _ in range(2):
        stream = io.BytesIO(ROUTING.encode())
        assert as_ansible_parses(load, stream, yaml.CSafeLoader) == yaml.safe_load(ROUTING)
    assert counting.calls == 1


def test_a_stream_that_cannot_be_read_twice_is_parsed_as_it_comes(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    class OnceOnly(io.StringIO):
        def seekable(self) -> bool:
            return False

    for _ in range(2):
        parsed = as_ansible_parses(load, OnceOnly(ROUTING), yaml.CSafeLoader)
        assert parsed == yaml.safe_load(ROUTING)
    assert counting.calls == 2
    assert entries(tmp_path) == []


@pytest.mark.parametrize("damage", [b"not marshal", b"\xda\x0bnot pickle"])
def test_a_damaged_entry_is_parsed_again_and_replaced(
    load: Callable[..., Any], counting: Counting, tmp_path: Path, damage: bytes
) -> None:
    as_ansible_parses(load, ROUTING, yaml.CSafeLoader)
    [entry] = entries(tmp_path)
    entry.write_bytes(damage)
    for _ in range(2):
        assert as_ansible_parses(load, ROUTING, yaml.CSafeLoader) == yaml.safe_load(ROUTING)
    assert counting.calls == 2


def launch(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args],
        capture_output=True,
        text=True,
        env={"PATH": f"{cache.parent}:/usr/bin:/bin", "XDG_CACHE_HOME": str(cache)},
        check=False,
        timeout=60,
    )


def test_the_launcher_runs_the_program_as_its_script_with_the_cache_and_its_exit_code(
    tmp_path: Path,
) -> None:
    program = tmp_path / "fake-playbook"
    program.write_text(
        "import sys, yaml\n"
        "from ansible.utils.collection_loader._collection_meta import _meta_yml_to_dict\n"
        "print(sys.argv, sys.path[0], yaml.load.__name__)\n"
        f"_meta_yml_to_dict({ROUTING!r}, None)\n"
        "sys.exit(3)\n",
        encoding="utf-8",
    )
    program.chmod(0o755)
    done = launch("fake-playbook", "-i", "hosts", "site.yml", cache=tmp_path / "cache")
    assert done.returncode == 3, done.stderr
    assert done.stdout.split() == [
        f"['{program}',", "'-i',", "'hosts',", "'site.yml']", str(tmp_path), "load_cached"
    ]  # fmt: skip
    [kept] = (tmp_path / "cache" / "govmig" / "playbook-yaml").glob("*/[!.]*")
    assert kept.stat().st_size > 0


def test_the_launcher_ends_as_python_does_its_threads_exit_functions_and_output_done(
    tmp_path: Path,
) -> None:
    """It ends without Python's teardown of its objects, but nothing else Python's exit
    does is skipped: a thread still running ends, exit functions run, buffered output is
    written and a message given to ``sys.exit`` is printed with exit code 1."""
    program = tmp_path / "fake-playbook"
    program.write_text(
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('exit function ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread ended'))).start()\n"
        "print('buffered', end=' ')\n"
        "sys.exit('why it stopped')\n",
        encoding="utf-8",
    )
    program.chmod(0o755)
    done = launch("fake-playbook", cache=tmp_path / "cache")
    assert (done.returncode, done.stderr) == (1, "why it stopped\n")
    assert done.stdout == "buffered thread ended\nexit function ran\n"


@pytest.mark.parametrize(("code", "expected"), [(None, 0), (0, 0), (4, 4), ("stopped", 1)])
def test_an_exit_code_is_the_one_python_would_give(
    launcher: ModuleType, code: object, expected: int
) -> None:
    assert launcher.exit_code(SystemExit(code)) == expected


def test_the_launcher_names_a_program_it_cannot_find(tmp_path: Path) -> None:
    done = launch("no-such-playbook", cache=tmp_path / "cache")
    assert (done.returncode, done.stderr) == (127, "no-such-playbook: command not found\n")


def test_another_installations_documents_unused_for_a_month_are_removed(
    launcher: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kind_dir = tmp_path / "govmig" / "playbook-yaml"
    stale, recent = kind_dir / "stale", kind_dir / "recent"
    for path, age_s in ((stale, launcher.govmig_host_code.STALE_S + 3600), (recent, 3600)):
        path.mkdir(parents=True, mode=0o700)
        os.utime(path, (time.time() - age_s, time.time() - age_s))

    directory = launcher.cache_dir()

    assert directory is not None
    assert sorted(p.name for p in kind_dir.iterdir()) == sorted([directory.name, "recent"])


def test_a_deferred_module_runs_when_a_name_of_its_is_first_used_and_then_once(
    launcher: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "govmig_deferred_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "heavy.py").write_text("import sys\nsys.ran += 1\nNAME = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "ran", 0, raising=False)
    for name in ("govmig_deferred_pkg", "govmig_deferred_pkg.heavy"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    launcher.import_lazily("govmig_deferred_pkg.heavy")
    # Imported as Mitogen's planner imports it (its spec looked at): nothing runs.
    heavy = importlib.import_module("govmig_deferred_pkg.heavy")
    assert sys.modules["govmig_deferred_pkg"].heavy is heavy
    assert heavy.__spec__ is not None
    assert sys.ran == 0  # type: ignore[attr-defined]

    assert heavy.NAME == 7  # a name of its: it runs, once
    assert heavy.NAME == 7
    assert sys.ran == 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = heavy.MISSING
    launcher.import_lazily("govmig_deferred_pkg.heavy")  # imported already: left as it is
    assert sys.modules["govmig_deferred_pkg.heavy"] is heavy
    assert sys.ran == 1  # type: ignore[attr-defined]
