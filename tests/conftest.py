"""Session fixtures for the real services the integration tests run against.

A test whose service is missing fails; it never skips.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from orchestrator import redaction
from orchestrator.devkafka import LocalKafka, free_port_pair
from orchestrator.errors import GovmigError
from orchestrator.settings import LocalKafkaSettings
from tests.fixtures import cpu_shares, leftovers
from tests.fixtures.groups import xdist_group
from tests.fixtures.ports import worker_base

# Fixtures shared with other conftest-less modules live in tests/fixtures/.
pytest_plugins = ["tests.fixtures.prometheus", "tests.fixtures.store"]

REPO = Path(__file__).resolve().parent.parent
# Shared by every session on the machine, so the broker's jars are resolved once.
KAFKA_CACHE = REPO / ".cache" / "kafka"
# Test-only ports; the first free pair from here is used, so two sessions can coexist.
TEST_KAFKA_PORT = worker_base(29092)
TEST_KAFKA_START_TIMEOUT_S = 120.0


# The session's own directory, made by the process that runs the session (xdist's
# controller, or pytest alone) and inherited by its workers: its one broker lives there.
SESSION_DIR = "GOVMIG_TEST_SESSION_DIR"
SHARED_BROKER = "kafka.json"  # the broker's settings and address, once started


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the session's own process, not a worker
        os.environ[SESSION_DIR] = tempfile.mkdtemp(prefix=cpu_shares.SESSION_PREFIX)
        # The runtime directory of every process the session starts, so that what they
        # leave there (each state database's instance slots) goes with the session's.
        runtime = Path(os.environ[SESSION_DIR]) / "run"
        runtime.mkdir(mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        cpu_shares.remove_dead_sessions(Path(tempfile.gettempdir()))
        cpu_shares.make(Path(os.environ[SESSION_DIR]))


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        leftovers.note(session, Path(os.environ[SESSION_DIR]))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # after every worker has finished
        leftovers.check(session, Path(os.environ[SESSION_DIR]))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's process stops the broker its workers shared, and removes its directory
    (a worker never stops it: the others may still be using it)."""
    if hasattr(config, "workerinput") or SESSION_DIR not in os.environ:
        return
    session_dir = Path(os.environ.pop(SESSION_DIR))
    record = session_dir / SHARED_BROKER
    if record.exists():
        settings = json.loads(record.read_text(encoding="utf-8"))["settings"]
        LocalKafka(LocalKafkaSettings.model_validate(settings)).down()
    cpu_shares.remove(session_dir)
    shutil.rmtree(session_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of a real Kafka broker for the whole session.

    ``GOVMIG_TEST_BOOTSTRAP_SERVERS`` points at an existing broker or cluster;
    otherwise ``govmig kafka``'s own ``LocalKafka`` starts one on loopback, once
    per session, shared by every xdist worker (one JVM, not one per worker: an idle
    broker takes about 4% of a core), and ``pytest_unconfigure`` stops it.
    """
    given = os.environ.get("GOVMIG_TEST_BOOTSTRAP_SERVERS")
    if given:
        return given
    session_dir = Path(os.environ[SESSION_DIR])
    record = session_dir / SHARED_BROKER
    with (session_dir / f"{SHARED_BROKER}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker starts it; the others wait
        if not record.exists():
            settings, bootstrap = _start_broker(session_dir / "kafka")
            shared = {"settings": settings.model_dump(mode="json"), "bootstrap": bootstrap}
            record.write_text(json.dumps(shared), encoding="utf-8")
        return str(json.loads(record.read_text(encoding="utf-8"))["bootstrap"])


def _start_broker(data_dir: Path) -> tuple[LocalKafkaSettings, str]:
    try:
        port, controller_port = free_port_pair("127.0.0.1", TEST_KAFKA_PORT)
        settings = LocalKafkaSettings(
            port=port,
            controller_port=controller_port,
            data_dir=data_dir,
            cache_dir=KAFKA_CACHE,
            start_timeout_s=TEST_KAFKA_START_TIMEOUT_S,
        )
        return settings, LocalKafka(settings).up().bootstrap_servers
    except GovmigError as error:
        pytest.fail(f"could not start the test Kafka broker: {error}")


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Factory for fresh, uniquely named topics, so tests never see each other's messages."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="govmig-tests")

    def create(prefix: str = "test", partitions: int = 3) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        return name

    yield create
    admin.close()


def pytest_itemcollected(item: pytest.Item) -> None:
    """Group the tests for pytest-xdist (``--dist loadgroup``) so they cannot collide.

    The lab's namespaces and bridge have fixed names, so every test that uses
    the lab runs in one worker, one after another; every other module runs
    whole in one worker, so its module-scoped fixtures are built once. (Marked
    as each item is collected: xdist reads the groups in its own
    ``pytest_collection_modifyitems``, before a conftest's.)
    """
    if item.get_closest_marker("xdist_group"):  # a test that names its own group
        return
    group = "lab" if item.get_closest_marker("lab") else item.path.stem
    item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a test and its fixtures, its worker enters the lab's share of the CPU or the
    rest's (``tests/fixtures/cpu_shares.py``): the lab's group is the suite's longest."""
    lab = item.get_closest_marker("lab") is not None
    cpu_shares.enter(Path(os.environ[SESSION_DIR]), lab=lab)


# What a group's tests start, heaviest first: the lab's hosts, playbook runs, real services.
HEAVY_MARKS = ("lab", "ansible", "kafka", "postgres", "prometheus")


def _weight(item: pytest.Item) -> int:
    """0 for the lab, 1 for playbook runs, ... len(HEAVY_MARKS) for pure tests."""
    marked = [n for n, mark in enumerate(HEAVY_MARKS) if item.get_closest_marker(mark)]
    return min(marked, default=len(HEAVY_MARKS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the groups heaviest first; xdist hands them out in this order (the Makefile's
    ``--no-loadscope-reorder``). Its own order, by number of tests, put the chaos
    scenarios (one test each, 30 to 60 s) last, where each finished alone while the
    other workers had nothing left. Heaviest first, the quick pure tests fill the end.
    A group's tests stay together and in their order, so its fixtures are built once."""

    groups = {item.nodeid: xdist_group(item) for item in items}
    order: dict[str, tuple[int, int]] = {}  # a group's (weight, first position)
    for index, item in enumerate(items):
        weight, first = order.get(groups[item.nodeid], (len(HEAVY_MARKS), index))
        order[groups[item.nodeid]] = (min(weight, _weight(item)), first)
    items.sort(key=lambda item: order[groups[item.nodeid]])


@pytest.fixture(autouse=True)
def no_secret_carried_over() -> None:
    """Each test starts with no registered secret: the list is process-wide."""
    redaction.forget_all()
