"""A call loads only its own command's module; --help, a typo and a Tab on a name load all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import COMMANDS, build_app, typed_words, wanted

REPO = Path(__file__).resolve().parents[2]
# What a call imported, as the console script runs it: main() under the given argv.
PROBE = """
import json, sys
from orchestrator import cli
sys.argv = ["govmig", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in
      {"kafka", "ansible_runner", "alembic", "orchestrator"})), file=sys.stderr)
"""


def imported_by(*args: str, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_status_loads_neither_kafka_nor_ansible_runner_nor_the_other_commands() -> None:
    loaded = imported_by("status", "--help")
    assert "orchestrator.cli.views" in loaded
    assert not {"kafka", "ansible_runner", "orchestrator.cli.ops", "orchestrator.cli.run"} & loaded


def test_help_lists_every_command_in_order() -> None:
    loaded = imported_by("--help")
    assert {"orchestrator.cli.ops", "orchestrator.cli.run", "orchestrator.cli.audit"} <= loaded
    names = [command.name for command in build_app().registered_commands]
    groups = [group.name for group in build_app().registered_groups]
    assert names + groups == list(COMMANDS)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status", "shantou-psb-001"], ["status"]),
        (["inventory", "publish", "f.csv"], ["inventory"]),
        (["statu"], list(COMMANDS)),
        (["--help"], list(COMMANDS)),
        ([], list(COMMANDS)),
    ],
)
def test_a_call_wants_the_command_it_names_or_all(args: list[str], expected: list[str]) -> None:
    assert wanted(args) == expected


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"COMP_WORDS": "govmig status --node sh", "COMP_CWORD": "3"}, ["status", "--node"]),
        ({"COMP_WORDS": "govmig sta", "COMP_CWORD": "1"}, []),
        ({"_TYPER_COMPLETE_ARGS": "govmig lab "}, ["lab"]),
        ({"_TYPER_COMPLETE_ARGS": "govmig la"}, []),
    ],
)
def test_a_tab_wants_only_the_words_typed_in_full(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], words: list[str]
) -> None:
    for name in ("COMP_WORDS", "COMP_CWORD", "_TYPER_COMPLETE_ARGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("_GOVMIG_COMPLETE", "complete_bash")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert typed_words() == words


def test_a_tab_after_a_command_name_completes_its_arguments_alone() -> None:
    loaded = imported_by(
        env={"_GOVMIG_COMPLETE": "complete_bash", "COMP_WORDS": "govmig lab ", "COMP_CWORD": "2"}
    )
    assert "orchestrator.cli.lab" in loaded
    assert "orchestrator.cli.ops" not in loaded
