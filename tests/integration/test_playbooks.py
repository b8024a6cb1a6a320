"""The phase playbooks and their helpers, checked as shipped.

``ansible-lint`` passes on ``playbooks/`` with the production profile that
``.ansible-lint`` sets, each phase has its playbook, and ``svcctl.py`` (how
the playbooks start and stop a service) is idempotent both ways.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.migrations.states import PLAYBOOKS, Phase
from orchestrator.providers.local_sandbox import (
    NameRecord,
    fetch_health,
    prepare_source,
    read_name_record,
    source_dir,
    stop_services,
)

pytestmark = pytest.mark.ansible

REPO = PLAYBOOK_DIR.parent
BIN = Path(sys.executable).parent
SVCCTL = PLAYBOOK_DIR / "files" / "svcctl.py"
DATACHECK = PLAYBOOK_DIR / "files" / "datacheck.py"


def test_ansible_lint_production_profile_passes(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # Keep ansible-lint's caches out of the repository.
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [str(BIN / "ansible-lint"), "playbooks/"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr


def test_every_phase_has_a_playbook() -> None:
    for phase in Phase:
        assert (PLAYBOOK_DIR / PLAYBOOKS[phase]).is_file(), phase
        for provider in ("local", "ssh"):
            role = PLAYBOOK_DIR / "roles" / provider
            assert (role / "tasks" / f"{phase}.yml").is_file(), (provider, phase)


def playbook_lines() -> Iterator[tuple[Path, str]]:
    for path in sorted(PLAYBOOK_DIR.rglob("*.yml")):
        for line in path.read_text().splitlines():
            yield path, line


def test_playbooks_never_use_a_shell() -> None:
    for path, line in playbook_lines():
        assert "ansible.builtin.shell" not in line, path
        assert "ansible.builtin.raw" not in line, path
        assert "cmd:" not in line, path  # command takes argv lists only


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "work"
    stop_services(tmp_path / "work")


def svcctl(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(SVCCTL), *args], capture_output=True, text=True, check=True
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_prepare_source_is_deterministic_and_serves(work: Path) -> None:
    record = prepare_source(work, "st-tax", 3, 10_000, seed=1)
    assert read_name_record(work, "st-tax") == record
    assert record.location == "source"
    first = fetch_health(record)
    assert first["system"] == "st-tax"
    sizes = sorted(p.stat().st_size for p in (source_dir(work, "st-tax") / "data").iterdir())
    assert sizes == [3333, 3333, 3334]
    again = prepare_source(work, "st-tax", 3, 10_000, seed=1)
    assert again == record  # same data, same running service
    assert fetch_health(again)["checksum"] == first["checksum"]


def test_svcctl_start_and_stop_are_idempotent(work: Path) -> None:
    record = prepare_source(work, "gz-permits", 1, 1_000, seed=2)
    home = str(source_dir(work, "gz-permits"))
    started = svcctl("start", "--dir", home, "--system", "gz-permits", "--location", "source")
    assert (started["changed"], started["port"]) == (False, record.port)
    assert svcctl("stop", "--dir", home)["changed"] is True
    assert svcctl("stop", "--dir", home)["changed"] is False
    restarted = svcctl("start", "--dir", home, "--system", "gz-permits", "--location", "source")
    assert restarted["changed"] is True
    moved = NameRecord(host="127.0.0.1", port=int(str(restarted["port"])), location="source")
    assert restarted["health"] == fetch_health(moved)


def test_svcctl_ignores_a_stale_pid_file(work: Path) -> None:
    prepare_source(work, "sg-clinics", 1, 1_000, seed=3)
    home = source_dir(work, "sg-clinics")
    svcctl("stop", "--dir", str(home))
    (home / "service.pid").write_text(f"{os.getpid()}\n")  # a live pid that is not the service
    assert svcctl("stop", "--dir", str(home))["changed"] is False
    started = svcctl("start", "--dir", str(home), "--system", "sg-clinics", "--location", "source")
    assert started["changed"] is True


def datacheck(data: Path, url: str, attempts: int = 10) -> dict[str, object]:
    argv = [sys.executable, str(DATACHECK), "--data", str(data), "--url", url]
    done = subprocess.run(
        [*argv, "--attempts", str(attempts)], capture_output=True, text=True, check=True
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_datacheck_matches_the_serving_directory_while_a_client_writes(work: Path) -> None:
    record = prepare_source(work, "st-writes", 4, 400_000, seed=4)
    data = source_dir(work, "st-writes") / "data"
    stop = threading.Event()

    def write() -> None:
        for n in itertools.count():
            if stop.wait(0.02):
                return
            url = f"http://{record.host}:{record.port}/data/w-{n}"
            request = urllib.request.Request(url, data=os.urandom(8192), method="PUT")
            with urllib.request.urlopen(request, timeout=5):
                pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        found = datacheck(data, record.health_url)
    finally:
        stop.set()
        writer.join(10)
    assert found["match"] is True
    assert isinstance(found["files"], int)
    assert found["files"] > 4
    other = source_dir(work, "st-writes").parent / "other-data"
    other.mkdir()
    (other / "x").write_bytes(b"not what the service serves")
    refused = datacheck(other, record.health_url, attempts=2)
    assert (refused["match"], refused["files"]) == (False, 1)
