"""``govmig_helper`` runs a helper's ``main`` in the host's interpreter, as its process would end.

The module's own work, on helpers written here; the ssh role's tests run the real helpers
through it on the lab.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file, run_module


@pytest.fixture
def helper_module() -> ModuleType:
    return load_file(PLAYBOOK_DIR / "library" / "govmig_helper.py")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A system's home with ``probe.py``, whose ``main`` behaves as its first argument says."""
    (tmp_path / "probe.py").write_text(
        textwrap.dedent(
            """\
            import json, sys

            def main(argv):
                if argv[0] == "exit":
                    sys.exit(int(argv[1]) if argv[1:] else None)
                if argv[0] == "exit-saying":
                    sys.exit("no such data")
                if argv[0] == "raise":
                    raise RuntimeError("the helper broke")
                print("warned", file=sys.stderr)
                print(json.dumps({"args": argv}))
                return int(argv[1])
            """
        )
    )
    yield tmp_path
    sys.modules.pop("probe", None)
    sys.path[:] = [entry for entry in sys.path if entry != str(tmp_path)]


def test_a_helper_runs_here_and_its_output_is_what_its_process_would_print(
    helper_module: ModuleType, home: Path
) -> None:
    rc, stdout, stderr = helper_module.run_here(str(home / "probe.py"), ["print", "0"])
    assert (rc, json.loads(stdout), stderr) == (0, {"args": ["print", "0"]}, "warned\n")
    rc, _, _ = helper_module.run_here(str(home / "probe.py"), ["print", "4"])
    assert rc == 4


def test_an_exit_or_an_exception_ends_it_as_its_process_would_end(
    helper_module: ModuleType, home: Path
) -> None:
    assert helper_module.run_here(str(home / "probe.py"), ["exit", "3"])[0] == 3
    assert helper_module.run_here(str(home / "probe.py"), ["exit"])[0] == 0
    assert helper_module.run_here(str(home / "probe.py"), ["exit-saying"]) == (
        1,
        "",
        "no such data\n",
    )
    rc, stdout, stderr = helper_module.run_here(str(home / "probe.py"), ["raise"])
    assert (rc, stdout) == (1, "")
    assert "RuntimeError: the helper broke" in stderr


def test_only_the_interpreter_it_runs_in_runs_a_helper_here(helper_module: ModuleType) -> None:
    assert helper_module.is_this_interpreter(sys.executable)
    assert not helper_module.is_this_interpreter("/usr/bin/false")


def test_an_argv_without_a_helper_script_is_refused(tmp_path: Path) -> None:
    result = run_module("govmig_helper", {"argv": [sys.executable]}, tmp_path)
    assert result["failed"] is True
    assert result["msg"] == "argv must name an interpreter and a helper script"


def test_another_interpreter_runs_the_helper_as_a_process(tmp_path: Path) -> None:
    script = tmp_path / "probe.sh"
    script.write_text('echo "$1"; echo warned >&2; exit "$2"\n')
    ran = run_module("govmig_helper", {"argv": ["/bin/sh", str(script), "hello", "0"]}, tmp_path)
    assert (ran["stdout"], ran["stderr"], ran["rc"]) == ("hello", "warned", 0)
    failed = run_module("govmig_helper", {"argv": ["/bin/sh", str(script), "hello", "3"]}, tmp_path)
    assert (failed["failed"], failed["rc"], failed["msg"]) == (True, 3, "non-zero return code 3")
