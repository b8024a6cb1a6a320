"""How ``ansible-playbook`` starts under govmig (``playbooks/plugin_utils/govmig_playbook.py``):
a large document a plain loader parses is parsed once, then read from the cache, the same
data, until its bytes change; Ansible's own loader, small documents, data marshal cannot
keep and streams that cannot be read twice pass through; the launcher runs the program
it is given as that program's own script would run, and names one it cannot find.
test_executor runs every phase's real playbooks through it."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from ansible.parsing.yaml.loader import AnsibleLoader

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file

PLUGIN_UTILS = PLAYBOOK_DIR / "plugin_utils"
LAUNCHER = PLUGIN_UTILS / "govmig_playbook.py"
# Long enough to be kept: a routing table's shape.
ROUTING = "plugin_routing:\n" + "".join(
    f"  module_{n}:\n    redirect: ns.col.module_{n}\n    tags: [a, b]\n" for n in range(200)
)


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
    return launcher.cached_load(counting, tmp_path)  # type: ignore[no-any-return]


def entries(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if not path.name.startswith("."))


@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader", "CBaseLoader", "BaseLoader"])
def test_a_large_plain_document_is_parsed_once_then_read_back_the_same(
    load: Callable[..., Any], counting: Counting, tmp_path: Path, loader: str
) -> None:
    Loader = getattr(yaml, loader)  # noqa: N806
    first, again = load(ROUTING, Loader), load(ROUTING, Loader)
    assert first == again == yaml.load(ROUTING, Loader)
    assert first is not again  # each caller's own to change
    assert counting.calls == 1
    assert len(entries(tmp_path)) == 1


def test_a_changed_document_another_loader_or_bytes_is_another_entry(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    changed = ROUTING.replace("module_7:", "module_seven:")
    load(ROUTING, yaml.CSafeLoader)
    assert "module_seven" in load(changed, yaml.CSafeLoader)["plugin_routing"]
    load(ROUTING, yaml.CBaseLoader)
    load(ROUTING.encode(), yaml.CSafeLoader)
    assert counting.calls == 4
    assert len(entries(tmp_path)) == 4


def test_ansibles_own_loader_and_small_documents_are_parsed_every_time(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    for _ in range(2):
        assert load(ROUTING, AnsibleLoader)["plugin_routing"]["module_1"]["tags"] == ["a", "b"]
        assert load("small: 1\n", yaml.CSafeLoader) == {"small": 1}
    assert counting.calls == 4
    assert entries(tmp_path) == []


def test_data_marshal_cannot_keep_is_returned_and_not_kept(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    dated = ROUTING + "released: 2026-12-06\n"
    assert str(load(dated, yaml.CSafeLoader)["released"]) == "2026-12-06"
    load(dated, yaml.CSafeLoader)
    assert counting.calls == 2
    assert entries(tmp_path) == []


def test_a_file_is_read_from_where_it_was_on_a_miss_and_from_the_cache_after(
    load: Callable[..., Any], counting: Counting
) -> None:
    for _ in range(2):
        stream = io.BytesIO(ROUTING.encode())
        assert load(stream, yaml.CSafeLoader) == yaml.safe_load(ROUTING)
    assert counting.calls == 1


def test_a_stream_that_cannot_be_read_twice_is_parsed_as_it_comes(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    class OnceOnly(io.StringIO):
        def seekable(self) -> bool:
            return False

    for _ in range(2):
        assert load(OnceOnly(ROUTING), yaml.CSafeLoader) == yaml.safe_load(ROUTING)
    assert counting.calls == 2
    assert entries(tmp_path) == []


def test_a_damaged_entry_is_parsed_again_and_replaced(
    load: Callable[..., Any], counting: Counting, tmp_path: Path
) -> None:
    load(ROUTING, yaml.CSafeLoader)
    [entry] = entries(tmp_path)
    entry.write_bytes(b"not marshal")
    assert load(ROUTING, yaml.CSafeLoader) == yaml.safe_load(ROUTING)
    assert load(ROUTING, yaml.CSafeLoader) == yaml.safe_load(ROUTING)
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
        "print(sys.argv, sys.path[0], yaml.load.__name__)\n"
        f"yaml.load({ROUTING!r}, yaml.SafeLoader)\n"
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


def test_the_launcher_names_a_program_it_cannot_find(tmp_path: Path) -> None:
    done = launch("no-such-playbook", cache=tmp_path / "cache")
    assert (done.returncode, done.stderr) == (127, "no-such-playbook: command not found\n")
