"""Pure text for the development broker: server.properties, the log4j2 config and the pom.

Nothing here touches the disk or a process; ``broker.py`` writes what these
functions return, and the unit tests read it back.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

LOOPBACK = "127.0.0.1"
NODE_ID = 1
MIN_JAVA_MAJOR = 17
KAFKA_MAIN = "kafka.Kafka"

# kafka_2.13 4.x still depends on slf4j-api 1.7, which only the log4j-slf4j-impl
# binding serves (log4j-slf4j2-impl binds slf4j 2 and would leave the broker silent).
LOG4J_VERSION = "2.24.3"
LOGGING_DEPENDENCIES: tuple[tuple[str, str, str], ...] = (
    ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
    ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
)

# One broker is the whole cluster, so every internal topic has one replica and
# a consumer group may start at once instead of waiting for more members.
SINGLE_NODE_SETTINGS: dict[str, str] = {
    "num.partitions": "3",
    "default.replication.factor": "1",
    "auto.create.topics.enable": "true",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
}

_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def server_properties(*, port: int, controller_port: int, storage_dir: Path) -> dict[str, str]:
    """The KRaft settings of a combined broker+controller listening on loopback only."""
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{LOOPBACK}:{controller_port}",
        "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(storage_dir),
        **SINGLE_NODE_SETTINGS,
    }


def render_properties(properties: dict[str, str], *, comment: str) -> str:
    """A Java ``.properties`` file that ``Properties.load`` reads back exactly."""
    lines = [f"# {escape_property(comment)}"]
    lines += [f"{key}={escape_property(value)}" for key, value in properties.items()]
    return "\n".join(lines) + "\n"


def escape_property(value: str) -> str:
    """Escape a value for ``Properties.load``, which reads ISO-8859-1 and eats backslashes.

    A data directory may well have a Chinese name, so everything outside
    printable ASCII becomes ``\\uXXXX`` (UTF-16 units, as Java expects).
    """
    out: list[str] = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif " " <= char <= "~":
            out.append(char)
        else:
            encoded = char.encode("utf-16-be")
            out += [f"\\u{encoded[i]:02x}{encoded[i + 1]:02x}" for i in range(0, len(encoded), 2)]
    if value.startswith(" "):
        out[0] = "\\ "  # a leading blank would be taken as separator padding
    return "".join(out)


def render_log4j2() -> str:
    """log4j2 config: INFO to stdout, which the broker's launcher sends to its log file."""
    return (
        "status = warn\n"
        "appender.out.type = Console\n"
        "appender.out.name = out\n"
        "appender.out.target = SYSTEM_OUT\n"
        "appender.out.layout.type = PatternLayout\n"
        "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.out.ref = out\n"
        # One line per request at INFO would drown everything else.
        "logger.request.name = kafka.request.logger\n"
        "logger.request.level = WARN\n"
    )


def render_pom(version: str) -> str:
    """A throwaway pom whose runtime dependencies are exactly the broker's classpath."""
    coordinates = (("org.apache.kafka", "kafka_2.13", version), *LOGGING_DEPENDENCIES)
    dependencies = "\n".join(
        "    <dependency>"
        f"<groupId>{xml_escape(group)}</groupId>"
        f"<artifactId>{xml_escape(artifact)}</artifactId>"
        f"<version>{xml_escape(release)}</version>"
        "</dependency>"
        for group, artifact, release in coordinates
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>local.govmig</groupId>\n"
        "  <artifactId>devkafka-classpath</artifactId>\n"
        f"  <version>{xml_escape(version)}</version>\n"
        "  <packaging>pom</packaging>\n"
        "  <dependencies>\n"
        f"{dependencies}\n"
        "  </dependencies>\n"
        "</project>\n"
    )


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID as 22 characters of URL-safe base64."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        # Kafka refuses ids that start with '-': they read as command-line options.
        if not text.startswith("-"):
            return text


def parse_java_major(version_output: str) -> int | None:
    """The major version in ``java -version`` output (``1.8`` counts as 8), if any."""
    match = _JAVA_VERSION.search(version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def is_our_broker(argv: Sequence[str], server_properties_path: Path) -> bool:
    """Whether a command line is a java running ``kafka.Kafka`` on this data dir's config."""
    return (
        bool(argv)
        and Path(argv[0]).name == "java"
        and KAFKA_MAIN in argv
        and str(server_properties_path) in argv
    )


def tail_lines(text: str, count: int = 20) -> str:
    """The last ``count`` lines of ``text``, for error messages."""
    return "\n".join(text.splitlines()[-count:])
