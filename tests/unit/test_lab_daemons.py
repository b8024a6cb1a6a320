"""The way an execution host's login user is given to this machine's govmig (pure part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import ConfigurationError
from orchestrator.lab.daemons import closed_on_the_way

# Directories others may not enter, as this machine has them (pyenv under /root, pytest's).
CLOSED = {Path("/root"), Path("/tmp/pytest-of-root"), Path("/tmp/pytest-of-root/pytest-7")}


def may_enter(path: Path) -> bool:
    return path not in CLOSED


def test_each_closed_directory_opens_to_exactly_the_paths_needed_beneath_it() -> None:
    needed = [
        Path("/work/main/.venv"),
        Path("/root/.pyenv/versions/3.11.7"),
        Path("/work/main/orchestrator"),
        Path("/tmp/pytest-of-root/pytest-7/exec0/lab"),
        Path("/work/main/playbooks"),
    ]
    assert closed_on_the_way(needed, may_enter) == {
        Path("/root"): [Path("/root/.pyenv/versions/3.11.7")],
        # The outermost closed directory: the one inside it is made again, open, in its tmpfs.
        Path("/tmp/pytest-of-root"): [Path("/tmp/pytest-of-root/pytest-7/exec0/lab")],
    }


def test_a_path_beneath_another_needed_one_goes_with_it() -> None:
    needed = [Path("/root/.pyenv/versions/3.11.7/lib"), Path("/root/.pyenv/versions/3.11.7")]
    assert closed_on_the_way(needed, may_enter) == {
        Path("/root"): [Path("/root/.pyenv/versions/3.11.7")]
    }


def test_nothing_is_opened_where_every_directory_on_the_way_is_open() -> None:
    assert closed_on_the_way([Path("/usr/lib/python3"), Path("/opt/govmig")], may_enter) == {}


@pytest.mark.parametrize(
    "needed",
    [Path("/tmp/pytest-of-root/pytest-7"), Path("/work/my lab")],
    ids=["itself-closed", "a-space"],
)
def test_a_needed_path_that_cannot_be_opened_is_refused_by_name(needed: Path) -> None:
    with pytest.raises(ConfigurationError, match=f"{needed} must be a directory other users"):
        closed_on_the_way([needed], may_enter)
