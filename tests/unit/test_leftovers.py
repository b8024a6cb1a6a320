"""What the suite's end checks: the names a run's leftovers take, and a session alone."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.cpu_shares import SESSION_PREFIX
from tests.fixtures.leftovers import alone, leftovers, this_process_own, watched


def test_a_runs_leftovers_are_found_by_their_names_and_nothing_else(tmp_path: Path) -> None:
    left = [
        "govmig-runner-123.456-abc",
        "govmig-worker-x",
        "mitogen_unix_ab12cd34.sock",
        "ansible_ansible.legacy.uri_payload_x1",
        "ansible-local-1234abc",
        "ansible-tmp-1796569446.80-16792-1567",
        "ssh-Stvg7I7ZdBOa",
    ]
    others = ["govmig-tests-x", "pytest-of-root", "tmp8r_u_pf4", "hsperfdata_root"]
    for name in left + others:
        (tmp_path / name).mkdir()
    home = tmp_path / "home"
    (home / "ansible-tmp-1-2-3").mkdir(parents=True)
    found = leftovers(tmp_path, home)
    assert found == {tmp_path / name for name in left} | {home / "ansible-tmp-1-2-3"}


def test_a_session_is_alone_while_no_other_sessions_directory_is_beside_its_own(
    tmp_path: Path,
) -> None:
    own = tmp_path / f"{SESSION_PREFIX}own"
    own.mkdir()
    (tmp_path / "govmig-runner-1.2-x").mkdir()
    assert alone(own)
    (tmp_path / f"{SESSION_PREFIX}other").mkdir()
    assert not alone(own)


def test_the_ansible_dir_this_process_keeps_until_it_exits_is_its_own() -> None:
    import ansible.constants  # noqa: F401 - makes this process's ansible-local-* dir

    own = this_process_own()
    assert len(own) == 1
    assert own <= leftovers(*watched())
