"""The lab's share of the CPU (``tests/fixtures/cpu_shares.py``) on the machine's real cgroups."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fixtures import cpu_shares


def cpu_cgroup(pid: int | str) -> str:
    """The cpu cgroup ``pid`` is in, as ``/proc/<pid>/cgroup`` names it."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path
    raise AssertionError(f"no cpu cgroup for {pid}")


def test_a_worker_and_what_it_starts_in_a_session_of_its_own_share_the_labs_cgroup(
    tmp_path: Path,
) -> None:
    session_dir = tmp_path / "shares-under-test"
    cpu_shares.make(session_dir)
    group = cpu_shares.group(session_dir).path
    try:
        assert (group / "lab" / "cpu.shares").read_text().strip() == "4096"
        assert (group / "rest" / "cpu.shares").read_text().strip() == "1024"

        cpu_shares.enter(session_dir, lab=True)
        assert cpu_cgroup("self") == f"/{session_dir.name}/lab"
        # As a playbook run or a lab host starts: a session of its own, still the lab's.
        child = subprocess.Popen(["sleep", "30"], start_new_session=True)
        try:
            assert cpu_cgroup(child.pid) == f"/{session_dir.name}/lab"
            cpu_shares.enter(session_dir, lab=False)
            assert cpu_cgroup("self") == f"/{session_dir.name}/rest"
        finally:
            cpu_shares.remove(session_dir)  # moves the child out, then removes the groups
            assert cpu_cgroup(child.pid) == "/"
            child.kill()
            child.wait()
    finally:
        cpu_shares.remove(session_dir)
    assert not group.exists()
    assert cpu_cgroup("self") == "/"


def test_entering_a_cgroup_never_made_changes_nothing(tmp_path: Path) -> None:
    before = cpu_cgroup("self")
    cpu_shares.enter(tmp_path / "never-made", lab=True)
    assert cpu_cgroup("self") == before


def test_a_dead_sessions_cgroups_go_with_what_is_left_in_them_and_a_live_ones_stay(
    tmp_path: Path,
) -> None:
    # Not the suite's own prefix: its live session's groups are not in tmp_path.
    dead, live = tmp_path / "shares-test-dead", tmp_path / "shares-test-live"
    live.mkdir()  # a session's directory exists while it runs
    for session_dir in (dead, live):
        cpu_shares.make(session_dir)
    cpu_shares.enter(dead, lab=True)  # as a killed session's worker was
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        cpu_shares.enter(live, lab=False)
        cpu_shares.remove_dead_sessions(tmp_path, prefix="shares-test-")

        assert not cpu_shares.group(dead).path.exists()
        assert cpu_cgroup(child.pid) == "/"
        shares = cpu_shares.group(live).child("lab").path / "cpu.shares"
        assert shares.read_text().strip() == "4096"
        assert cpu_cgroup("self") == f"/{live.name}/rest"
    finally:
        child.kill()
        child.wait()
        cpu_shares.remove(live)
        cpu_shares.remove(dead)
    assert cpu_cgroup("self") == "/"
