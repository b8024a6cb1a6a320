"""govmig installed from its wheel, outside the checkout, finds its playbooks, inventory, schemas.

The wheel is built from a copy of this checkout and installed without dependencies into a
fresh virtual environment in a temporary directory; a ``.pth`` line makes the
test environment's site-packages (the dependencies) visible. A ``.pth`` line
only adds a directory, it does not run the checkout's editable-install finder,
so the ``orchestrator`` imported there is the wheel's (a test checks it).
Every command runs from a working directory outside the checkout, without
``PYTHONPATH``. ``govmig demo`` itself is not run (it downloads and starts its own
Kafka); what it loads at startup is checked to resolve inside the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator import data_files
from orchestrator.inventory import generate_catalogue
from orchestrator.migrations.states import PLAYBOOKS
from orchestrator.providers.local_sandbox import prepare_source, stop_services
from orchestrator.settings import KafkaSettings
from tests.fixtures.orchestrator import count_sqlite, kafka_settings, register_and_request
from tests.fixtures.polling import wait_until

COMPLETED = "SELECT count(*) FROM systems WHERE state = 'completed'"
CHECKOUT = Path(__file__).resolve().parents[2]
# What the installed package reports about itself, as JSON.
INTROSPECT = """
import json, orchestrator
from orchestrator import data_files
import orchestrator.service.worker
from orchestrator.inventory.loader import DEFAULT_CATALOGUE, load_inventory, load_systems
inventory = load_inventory()  # what `govmig run` and `govmig demo` load at startup
print(json.dumps({
    "package": orchestrator.__file__,
    "playbooks": str(data_files.PLAYBOOK_DIR),
    "inventory": str(data_files.INVENTORY_DIR),
    "schemas": str(data_files.SCHEMA_DIR),
    "worker_playbooks": str(orchestrator.service.worker.PLAYBOOK_DIR),
    "nodes": len(inventory.nodes),
    "catalogue": len(load_systems(DEFAULT_CATALOGUE, inventory)),
}))
"""


@dataclass(frozen=True)
class Installed:
    """A virtual environment holding govmig from its wheel, and a directory to run in."""

    venv: Path
    outside: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *command: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(part) for part in command],
            cwd=self.outside,
            env=without_pythonpath(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.is_relative_to(CHECKOUT)
    dist, venv, outside = root / "dist", root / "venv", root / "elsewhere"
    outside.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _check([*pip, "wheel", "--no-deps", "--wheel-dir", dist, source_copy(root)], cwd=root)
    (wheel,) = dist.glob("govmig-*.whl")
    _check([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    python = venv / "bin" / "python"
    _check([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=root)
    site = _check(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root
    )
    Path(site.strip(), "test-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    # The one dependency console script govmig runs (beside its interpreter), which
    # installing the dependencies would have put there.
    (venv / "bin" / "ansible-playbook").symlink_to(Path(sys.executable).parent / "ansible-playbook")
    return Installed(venv=venv, outside=outside)


def source_copy(root: Path) -> Path:
    """What the wheel is built from, copied: setuptools builds in the source tree."""
    source = root / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("orchestrator", "playbooks", "inventory", "events"):
        # symlinks=True: the package's _data links must still lead to the copied folders.
        shutil.copytree(CHECKOUT / folder, source / folder, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(CHECKOUT / name, source / name)
    return source


def _check(command: list[str | Path], *, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=without_pythonpath(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def without_pythonpath() -> dict[str, str]:
    """This environment without PYTHONPATH, which points the test run itself at the checkout."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def introspect(installed: Installed) -> dict[str, object]:
    done = installed.run(installed.python, "-c", INTROSPECT)
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def relative_files(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    found = introspect(installed)
    assert Path(str(found["package"])).is_relative_to(installed.venv)


@pytest.mark.parametrize("kind", ["playbooks", "inventory", "schemas"])
def test_the_wheel_ships_every_data_file_of_the_checkout(installed: Installed, kind: str) -> None:
    shipped = Path(str(introspect(installed)[kind]))
    assert shipped.is_relative_to(installed.venv)
    checkout = {
        "playbooks": data_files.PLAYBOOK_DIR,
        "inventory": data_files.INVENTORY_DIR,
        "schemas": data_files.SCHEMA_DIR,
    }[kind]
    assert checkout.is_relative_to(CHECKOUT)
    assert relative_files(shipped) == relative_files(checkout) != set()


def test_what_run_and_demo_load_at_startup_resolves_inside_the_installed_package(
    installed: Installed,
) -> None:
    found = introspect(installed)
    playbooks = Path(str(found["worker_playbooks"]))
    assert playbooks == Path(str(found["playbooks"]))
    assert sorted(path.name for path in playbooks.glob("*.yml")) == sorted(PLAYBOOKS.values())
    assert found["nodes"] == 14
    assert isinstance(found["catalogue"], int)
    assert found["catalogue"] > 0


def test_the_installed_schema_generator_finds_the_shipped_schemas_current(
    installed: Installed,
) -> None:
    done = installed.run(installed.python, "-m", "orchestrator.events.schemagen", "--check")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.kafka
@pytest.mark.ansible
def test_installed_govmig_run_migrates_a_system_with_its_shipped_playbooks(
    installed: Installed, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    settings = kafka_settings(kafka_bootstrap, new_topic)
    system = next(s for s in generate_catalogue(40) if not s.depends_on)
    work, artifacts = installed.outside / "work", installed.outside / "artifacts"
    prepare_source(work, system.id, 2, 4_000, seed=7)
    register_and_request(settings, [system])
    db = installed.outside / "govmig.db"
    try:
        options = ("--worker", "--work-root", work, "--artifacts-dir", artifacts)
        with _installed_run(installed, settings, db, *options) as process:
            wait_until(
                lambda: count_sqlite(db, COMPLETED) == 1,
                timeout_s=180,
                what=f"{system.id} migrated by the installed govmig run",
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
    finally:
        stop_services(work)
    # Every phase ran a playbook (ansible-runner keeps one artifact directory per run).
    phases = {run.name.split("-")[1] for run in artifacts.iterdir()}
    assert phases >= {"preflight", "provision", "replicate", "cutover", "verify"}


@contextmanager
def _installed_run(
    installed: Installed, settings: KafkaSettings, db: Path, *options: str | Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The installed ``govmig run``, from outside the checkout, killed if still running."""
    env = {
        **without_pythonpath(),
        "GOVMIG_EVENTS_TOPIC": settings.events_topic,
        "GOVMIG_STATUS_TOPIC": settings.status_topic,
        "GOVMIG_DLQ_TOPIC": settings.dlq_topic,
    }
    command: list[str | Path] = [
        installed.venv / "bin" / "govmig", "run",
        "--bootstrap-servers", settings.bootstrap_servers,
        "--group", settings.consumer_group,
        "--state-db", f"sqlite:///{db}",
        "--metrics-port", "0",
        *options,
    ]  # fmt: skip
    log = db.with_suffix(".log")
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=installed.outside, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    except BaseException:
        print(log.read_text(errors="replace")[-4000:])  # shown by pytest on failure
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
