"""The development broker's generated text: server.properties, the pom, log4j2, ids."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.devkafka import BrokerState, BrokerStatus, describe_down
from orchestrator.devkafka.render import (
    escape_property,
    is_our_broker,
    new_cluster_id,
    parse_java_major,
    render_log4j2,
    render_pom,
    render_properties,
    server_properties,
    tail_lines,
)

STORAGE = Path("/srv/govmig/kafka/storage")
PROPS = server_properties(port=39092, controller_port=39093, storage_dir=STORAGE)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("process.roles", "broker,controller"),
        ("node.id", "1"),
        ("controller.quorum.voters", "1@127.0.0.1:39093"),
        ("listeners", "PLAINTEXT://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093"),
        ("advertised.listeners", "PLAINTEXT://127.0.0.1:39092"),
        ("controller.listener.names", "CONTROLLER"),
        ("log.dirs", str(STORAGE)),
        ("offsets.topic.replication.factor", "1"),
        ("transaction.state.log.replication.factor", "1"),
        ("transaction.state.log.min.isr", "1"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("num.partitions", "3"),
        ("auto.create.topics.enable", "true"),
    ],
    ids=lambda item: str(item),
)
def test_server_properties_are_single_node_kraft(key: str, value: str) -> None:
    assert PROPS[key] == value


def test_every_listener_is_on_loopback() -> None:
    for key in ("listeners", "advertised.listeners"):
        for listener in PROPS[key].split(","):
            assert listener.split("://")[1].startswith("127.0.0.1:"), listener


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("/var/kafka", "/var/kafka"),
        ("C:\\kafka", "C:\\\\kafka"),
        ("/数据/kafka", "/\\u6570\\u636e/kafka"),
        (" lead", "\\ lead"),
        ("a\nb", "a\\u000ab"),
        ("𝄞", "\\ud834\\udd1e"),
    ],
    ids=["plain", "backslash", "chinese", "leading-blank", "newline", "astral"],
)
def test_escape_property(raw: str, escaped: str) -> None:
    assert escape_property(raw) == escaped


def test_render_properties_is_one_line_per_key_and_ascii_only() -> None:
    text = render_properties({"log.dirs": "/数据", "node.id": "1"}, comment="written by 测试")
    assert text.splitlines() == [
        "# written by \\u6d4b\\u8bd5",
        "log.dirs=/\\u6570\\u636e",
        "node.id=1",
    ]
    assert text.isascii()


def test_pom_lists_kafka_and_the_slf4j_1_binding() -> None:
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.fromstring(render_pom("4.1.1"))
    fields = ("groupId", "artifactId", "version")
    dependencies = [
        tuple(dep.findtext(f"m:{field}", namespaces=namespace) for field in fields)
        for dep in root.iterfind("m:dependencies/m:dependency", namespace)
    ]
    assert dependencies[0] == ("org.apache.kafka", "kafka_2.13", "4.1.1")
    artifacts = {artifact for _, artifact, _ in dependencies}
    assert {"log4j-slf4j-impl", "log4j-core"} <= artifacts
    assert "log4j-slf4j2-impl" not in artifacts  # it would not bind kafka's slf4j 1.7


def test_log4j2_logs_info_to_stdout() -> None:
    lines = render_log4j2().splitlines()
    assert "rootLogger.level = INFO" in lines
    assert "appender.out.target = SYSTEM_OUT" in lines


def test_cluster_ids_are_22_char_urlsafe_uuids_never_starting_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_381"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ("something else entirely", None),
    ],
    ids=["17", "21-no-minor", "1.8", "11", "unparseable"],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


CONFIG = Path("/srv/kafka/server.properties")


@pytest.mark.parametrize(
    ("argv", "ours"),
    [
        (["/usr/bin/java", "-Xmx512m", "-cp", "x/*", "kafka.Kafka", str(CONFIG)], True),
        (["java", "kafka.Kafka", str(CONFIG)], True),
        (["/usr/bin/java", "kafka.Kafka", "/elsewhere/server.properties"], False),
        (["/usr/bin/python3", "-c", "pass", "kafka.Kafka", str(CONFIG)], False),
        (["/usr/bin/java", "kafka.tools.StorageTool", str(CONFIG)], False),
        ([], False),
    ],
    ids=["ours", "java-by-name", "other-config", "not-java", "not-the-broker", "gone"],
)
def test_is_our_broker(argv: list[str], ours: bool) -> None:
    assert is_our_broker(argv, CONFIG) is ours


def test_tail_lines_keeps_the_last_lines() -> None:
    text = "\n".join(f"line {n}" for n in range(100))
    assert tail_lines(text, 3) == "line 97\nline 98\nline 99"
    assert tail_lines("", 3) == ""


def _status(state: BrokerState, pid: int | None, detail: str) -> BrokerStatus:
    return BrokerStatus(
        state=state,
        pid=pid,
        bootstrap_servers="127.0.0.1:9092",
        port=9092,
        controller_port=9093,
        version="4.1.1",
        data_dir=Path("/d"),
        log=Path("/d/broker.log"),
        reachable=None,
        detail=detail,
    )


@pytest.mark.parametrize(
    ("before", "stopped", "message"),
    [
        (_status(BrokerState.RUNNING, 42, "broker pid 42"), True, "stopped the broker (pid 42)"),
        (_status(BrokerState.STOPPED, None, "no broker"), False, "nothing to stop: no broker"),
        (_status(BrokerState.STALE, 7, "pid 7 gone"), False, "removed the stale record"),
    ],
    ids=["stopped", "nothing", "stale"],
)
def test_describe_down(before: BrokerStatus, stopped: bool, message: str) -> None:
    assert message in describe_down(before, stopped)
