"""What ``govmig kafka up`` checks before it starts anything, and the messages it gives.

Missing programs are simulated with a search path of our own; taken ports with
a socket of our own. Nothing here starts a broker or runs Maven.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.devkafka import BrokerState, LocalKafka, free_port_pair
from orchestrator.devkafka.jars import ensure_jars, summarize_mvn_output
from orchestrator.devkafka.processes import ensure_port_free, is_port_free
from orchestrator.devkafka.render import render_pom
from orchestrator.devkafka.toolchain import find_java, find_mvn
from orchestrator.errors import ConfigurationError
from orchestrator.settings import LocalKafkaSettings
from tests.fixtures.ports import worker_base

LOOPBACK = "127.0.0.1"
PORT_RANGE = worker_base(29400)  # test-only, away from the brokers the integration tests start


def _settings(tmp_path: Path, **overrides: object) -> LocalKafkaSettings:
    port, controller_port = free_port_pair(LOOPBACK, PORT_RANGE)
    values: dict[str, object] = {
        "port": port,
        "controller_port": controller_port,
        "data_dir": tmp_path / "data",
        "cache_dir": tmp_path / "cache",
        **overrides,
    }
    return LocalKafkaSettings.model_validate(values)


def _path_with(tmp_path: Path, *programs: str) -> str:
    """A search path holding only links to the real ``programs``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for program in programs:
        real = shutil.which(program)
        assert real is not None, f"this test needs a real {program}"
        (bin_dir / program).symlink_to(real)
    return str(bin_dir)


def test_missing_java_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        find_java(path=_path_with(tmp_path))
    assert "java not found on PATH" in str(raised.value)
    assert "openjdk-17-jre-headless" in str(raised.value)


def test_old_java_is_refused(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)
    with pytest.raises(ConfigurationError) as raised:
        find_java(path=str(bin_dir))
    assert "Java 11" in str(raised.value)
    assert "17+" in str(raised.value)


def test_real_java_is_accepted() -> None:
    assert find_java().name == "java"


def test_missing_mvn_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        find_mvn(path=_path_with(tmp_path))
    assert "mvn not found on PATH" in str(raised.value)
    assert "apt-get install maven" in str(raised.value)


def test_up_without_java_fails_before_starting_anything(tmp_path: Path) -> None:
    broker = LocalKafka(_settings(tmp_path), path=_path_with(tmp_path))
    with pytest.raises(ConfigurationError, match="java not found"):
        broker.up()
    assert not (tmp_path / "data" / "broker.json").exists()


def test_up_without_mvn_and_an_empty_cache_names_maven(tmp_path: Path) -> None:
    broker = LocalKafka(_settings(tmp_path), path=_path_with(tmp_path, "java"))
    with pytest.raises(ConfigurationError, match="mvn not found"):
        broker.up()


def _fill_cache(cache: Path, version: str, *, marker: str | None) -> Path:
    libs = cache / version / "libs"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{version}.jar").write_bytes(b"")
    if marker is not None:
        (cache / version / "libs.complete").write_text(marker + "\n")
    return libs


def test_a_complete_cache_is_reused_without_maven(tmp_path: Path) -> None:
    digest = hashlib.sha256(render_pom("4.1.1").encode()).hexdigest()
    libs = _fill_cache(tmp_path / "cache", "4.1.1", marker=digest)
    assert ensure_jars(tmp_path / "cache", "4.1.1", path=_path_with(tmp_path)) == libs


@pytest.mark.parametrize(
    "marker",
    [None, "0" * 64],
    ids=["half-finished-copy", "pom-changed-since"],
)
def test_an_incomplete_cache_is_resolved_again(tmp_path: Path, marker: str | None) -> None:
    _fill_cache(tmp_path / "cache", "4.1.1", marker=marker)
    # With no mvn on the path, "resolved again" shows up as the missing-mvn error.
    with pytest.raises(ConfigurationError, match="mvn not found"):
        ensure_jars(tmp_path / "cache", "4.1.1", path=_path_with(tmp_path))


@pytest.fixture(params=["listening", "bound-only"])
def taken_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A loopback port held by a socket of ours, listening or merely bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((LOOPBACK, 0))
        if request.param == "listening":
            holder.listen()
        yield holder.getsockname()[1]


def test_a_taken_port_is_named(taken_port: int) -> None:
    assert not is_port_free(LOOPBACK, taken_port)
    with pytest.raises(ConfigurationError) as raised:
        ensure_port_free(LOOPBACK, taken_port, option="--port")
    message = str(raised.value)
    assert f"port {taken_port} on 127.0.0.1 is taken by another process" in message
    assert "--port" in message


@pytest.mark.parametrize("which", ["port", "controller_port"], ids=["broker", "controller"])
def test_up_refuses_a_taken_port(tmp_path: Path, taken_port: int, which: str) -> None:
    other = free_port_pair(LOOPBACK, PORT_RANGE + 100)[0]
    ports = {"port": other, "controller_port": other}
    ports[which] = taken_port
    broker = LocalKafka(_settings(tmp_path, **ports))
    with pytest.raises(ConfigurationError) as raised:
        broker.up()
    assert f"port {taken_port} on 127.0.0.1 is taken" in str(raised.value)
    assert f"--{which.replace('_', '-')}" in str(raised.value)
    assert not (tmp_path / "data" / "broker.json").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 39500, "controller_port": 39500}, "both 39500"),
        ({"port": 70000}, "not a TCP port"),
        ({"version": "../../etc"}, "not a release number"),
        ({"heap": "lots"}, "not a JVM size"),
    ],
    ids=["same-ports", "port-out-of-range", "version-path", "heap"],
)
def test_bad_settings_are_refused(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LocalKafka(_settings(tmp_path, **overrides))


MVN_FAILURE = (
    "\x1b[0m[ERROR] Failed to execute goal on project devkafka-classpath: Could not find "
    "artifact org.apache.kafka:kafka_2.13:jar:0.0.1-nope in central -> [Help 1]\n"
    "[ERROR] \n"
    "[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.\n"
    "[ERROR] [Help 1] http://cwiki.apache.org/confluence/display/MAVEN/Dependency\n"
    "\x1b[0m\x1b[0m"
)


@pytest.mark.parametrize(
    ("output", "summary"),
    [
        (
            MVN_FAILURE,
            "[ERROR] Failed to execute goal on project devkafka-classpath: Could not find "
            "artifact org.apache.kafka:kafka_2.13:jar:0.0.1-nope in central -> [Help 1]",
        ),
        ("Killed\n\n", "Killed"),
    ],
    ids=["maven-error", "no-error-lines"],
)
def test_summarize_mvn_output(output: str, summary: str) -> None:
    assert summarize_mvn_output(output) == summary


def test_status_notes_a_port_held_by_another_process(tmp_path: Path, taken_port: int) -> None:
    status = LocalKafka(_settings(tmp_path, port=taken_port)).status()
    assert status.state is BrokerState.STOPPED
    assert f"port {taken_port} on 127.0.0.1 is in use by another process" in status.detail
