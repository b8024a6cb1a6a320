"""The real components one chaos run shares: its own Kafka broker, PostgreSQL and lab.

The broker is the suite's own (a scenario stops and starts it); PostgreSQL and
the lab start the first time a scenario asks for them. Everything is stopped
when the run ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic

from orchestrator import devpostgres
from orchestrator.devkafka import LocalKafka, free_port_pair
from orchestrator.errors import ConfigurationError
from orchestrator.inventory import Inventory, generate_catalogue, load_inventory
from orchestrator.inventory.models import BusinessSystem
from orchestrator.lab import Lab, LabOptions, LabPaths
from orchestrator.settings import LocalKafkaSettings

REPO = Path(__file__).resolve().parent.parent
KAFKA_CACHE = REPO / ".cache" / "kafka"
# Clear of the tests' ports (29092 to 31999) and below the ephemeral range (32768 and up),
# so a chaos run and a test session coexist and no outgoing connection takes it.
KAFKA_PORT = 27092
# Each lab scenario moves its systems onto nodes of its own: every scenario keeps its own
# store, which numbers its systems' addresses from 1 on each node, while the lab's hosts
# keep what earlier scenarios left running there.
LAB_NODES = (
    "shantou",
    "heyuan",
    "meizhou",
    "shanwei",
    "zhanjiang",
    "maoming",
    "zhaoqing",
    "qingyuan",
)


# One catalogue for the whole run: a catalogue's ids depend on its size, so slices of
# catalogues of different sizes may share ids.
CATALOGUE_SIZE = 2000


def is_root() -> bool:
    return os.geteuid() == 0


class Rig:
    """The shared components, started on demand, all stopped by ``close``.

    With ``bootstrap`` the scenarios use that broker (the tests' own) instead of
    starting one; a scenario that stops and starts the broker then cannot run.
    """

    def __init__(self, base: Path, bootstrap: str | None = None) -> None:
        self.base = base
        self.inventory: Inventory = load_inventory()
        self._stack = contextlib.ExitStack()
        self._kafka: LocalKafka | None = None
        if bootstrap is None:
            self._kafka = self._own_broker()
            bootstrap = self._kafka.up().bootstrap_servers
            self._stack.callback(self._kafka.down)
        self.bootstrap = bootstrap
        self._postgres: str | None = None
        self._lab: Lab | None = None
        self._handed_out = 0
        self._catalogue: list[BusinessSystem] | None = None
        self._lab_nodes_used = 0

    def fresh_lab_nodes(self, count: int) -> tuple[str, ...]:
        """``count`` lab nodes no earlier scenario of this run moved systems onto."""
        nodes = LAB_NODES[self._lab_nodes_used : self._lab_nodes_used + count]
        if len(nodes) < count:
            raise ConfigurationError(f"the chaos lab has only {len(LAB_NODES)} nodes")
        self._lab_nodes_used += count
        return nodes

    def fresh_systems(self, count: int) -> list[BusinessSystem]:
        """``count`` catalogue systems (without dependencies: each is placed by ``--to``) no
        earlier scenario of this run used: the lab's hosts and DNS outlive a scenario (its
        services, its names' fences), and a system migrated there before would not start
        afresh under a new store."""
        if self._catalogue is None:
            self._catalogue = [s for s in generate_catalogue(CATALOGUE_SIZE) if not s.depends_on]
        systems = self._catalogue[self._handed_out : self._handed_out + count]
        if len(systems) < count:
            raise ConfigurationError(f"the chaos catalogue has only {len(self._catalogue)} systems")
        self._handed_out += count
        return systems

    def _own_broker(self) -> LocalKafka:
        port, controller_port = free_port_pair("127.0.0.1", KAFKA_PORT)
        return LocalKafka(
            LocalKafkaSettings(
                port=port,
                controller_port=controller_port,
                data_dir=self.base / "kafka",
                cache_dir=KAFKA_CACHE,
                start_timeout_s=120.0,
            )
        )

    @property
    def kafka(self) -> LocalKafka:
        """The suite's own broker, for a scenario that stops and starts it."""
        if self._kafka is None:
            raise ConfigurationError(
                "this scenario stops the broker: run it without --bootstrap-servers"
            )
        return self._kafka

    def new_topic(self, prefix: str = "chaos", partitions: int = 3) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="govmig-chaos")
        try:
            admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        finally:
            admin.close()
        return name

    def postgres_database(self) -> str:
        """A fresh database on the run's PostgreSQL cluster (started the first time)."""
        if self._postgres is None:
            self._postgres = self._stack.enter_context(devpostgres.throwaway_cluster())
        return devpostgres.create_database(self._postgres, prefix="govmig_chaos_")

    def lab(self) -> Lab:
        """The lab, up on ``LAB_NODES`` with two source hosts (brought up the first time)."""
        if self._lab is None:
            lab = Lab(LabPaths.under(self.base / "lab"), self.inventory)
            self._stack.callback(lab.down)
            lab.up(LabOptions(nodes=LAB_NODES, per_node=1, sources=2))
            self._lab = lab
        return self._lab

    def scene(self, name: str) -> Path:
        """A fresh directory for one scenario."""
        path = self.base / name
        path.mkdir(parents=True)
        return path

    def close(self) -> None:
        self._stack.close()
