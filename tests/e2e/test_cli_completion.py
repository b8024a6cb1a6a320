"""Shell completion as a shell drives it: the installed ``govmig``, a real store, real bash.

bash sources what ``govmig --show-completion`` prints (or what
``--install-completion`` wrote into a temporary HOME) and runs the completion
function as it would on Tab. There is no zsh on the test machines, so zsh is
driven through the protocol its script uses (``_GOVMIG_COMPLETE=complete_zsh``
with the words in ``_TYPER_COMPLETE_ARGS``), which needs no zsh binary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.migrations import SystemState
from orchestrator.store import open_store
from tests.fixtures import cli
from tests.fixtures.seeding import drive
from tests.fixtures.systems import business_system

BIN = Path(sys.executable).parent
REGISTERED = ("shantou-psb-001", "shantou-psb-002", "shaoguan-edu-001")


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """A state database, closed, in which ``REGISTERED`` are registered."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with open_store(url) as store, store.transaction() as session:
        for system_id in REGISTERED:
            record = business_system(system_id, city=system_id.split("-")[0])
            drive(session, record, SystemState.REGISTERED)
    return url


def environment(home: Path, **extra: str) -> dict[str, str]:
    """This environment without ``GOVMIG_*``, ``govmig`` first on PATH, HOME at ``home``."""
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return cli.environment({"PATH": path, "HOME": str(home), **extra})


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)


def bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` in a non-interactive bash that reads no rc file of the machine."""
    return run(["bash", "--norc", "--noprofile", "-c", script], env)


def on_tab(setup: str, *words: str) -> str:
    """A bash script: ``setup``, then Tab after ``words`` (the last one being completed)."""
    typed = " ".join(f"'{word}'" for word in words)
    return (
        f"{setup}\nCOMP_WORDS=({typed}); COMP_CWORD={len(words) - 1}\n"
        '_govmig_completion govmig; printf "%s\\n" "${COMPREPLY[@]}"'
    )


def test_bash_completes_stored_ids_from_the_shown_script(state_db: str, tmp_path: Path) -> None:
    env = environment(tmp_path, GOVMIG_STATE_DB=state_db)
    shown = bash(on_tab("source <(govmig --show-completion)", "govmig", "status", "shan"), env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["shantou-psb-001", "shantou-psb-002"]
    assert shown.stderr == ""


def test_bash_honours_a_typed_state_db_and_skips_ids_already_typed(
    state_db: str, tmp_path: Path
) -> None:
    words = ("govmig", "rollback", "--state-db", state_db, "shantou-psb-001", "sh")
    shown = bash(on_tab("source <(govmig --show-completion)", *words), environment(tmp_path))
    assert shown.stdout.split() == ["shantou-psb-002", "shaoguan-edu-001"]


def test_bash_completes_node_names_for_to(tmp_path: Path) -> None:
    words = ("govmig", "migrate", "shantou-psb-001", "--to", "sha")
    shown = bash(on_tab("source <(govmig --show-completion)", *words), environment(tmp_path))
    assert shown.stdout.split() == ["shantou", "shanwei", "shaoguan"]


def test_without_a_store_there_are_no_ids_no_error_and_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "state.db"
    env = environment(tmp_path, GOVMIG_STATE_DB=f"sqlite:///{missing}")
    shown = bash(on_tab("source <(govmig --show-completion)", "govmig", "status", ""), env)
    assert (shown.returncode, shown.stdout.strip(), shown.stderr) == (0, "", "")
    assert not missing.parent.exists()


def test_install_completion_writes_into_home_and_bash_completes_from_it(
    state_db: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = environment(home, GOVMIG_STATE_DB=state_db)
    # `; true` keeps bash from exec'ing govmig, so govmig sees bash as its shell.
    installed = bash("govmig --install-completion; true", env)
    assert installed.returncode == 0, installed.stderr
    assert "bash completion installed" in installed.stdout
    script = home / ".bash_completions" / "govmig.sh"
    assert f"source '{script}'" in (home / ".bashrc").read_text()
    shown = bash(on_tab("source ~/.bashrc", "govmig", "approve", "shao"), env)
    assert shown.stdout.split() == ["shaoguan-edu-001"]


def test_zsh_completes_stored_ids_and_node_names(state_db: str, tmp_path: Path) -> None:
    env = environment(tmp_path, GOVMIG_STATE_DB=state_db, _GOVMIG_COMPLETE="complete_zsh")
    ids = run(["govmig"], {**env, "_TYPER_COMPLETE_ARGS": "govmig cancel shantou"})
    assert ids.returncode == 0, ids.stderr
    assert '"shantou-psb-001"' in ids.stdout
    assert '"shantou-psb-002"' in ids.stdout
    assert "shaoguan" not in ids.stdout
    nodes = run(["govmig"], {**env, "_TYPER_COMPLETE_ARGS": "govmig status --node yun"})
    assert nodes.stdout.startswith("_arguments")
    assert '"yunfu"' in nodes.stdout


def test_install_completion_for_zsh_writes_its_function_into_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = environment(home, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    installed = run(["govmig", "--install-completion", "zsh"], env)
    assert installed.returncode == 0, installed.stderr
    function = (home / ".zfunc" / "_govmig").read_text()
    assert "compdef _govmig_completion govmig" in function
    assert "_GOVMIG_COMPLETE=complete_zsh" in function
    assert "fpath+=~/.zfunc" in (home / ".zshrc").read_text()
