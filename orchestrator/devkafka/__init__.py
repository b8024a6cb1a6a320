"""devkafka: a real single-node Apache Kafka 4.x for development, the demo and the tests.

It sits beside the reactor, under the CLI: ``govmig kafka up|down|status`` and
the test fixtures call ``LocalKafka``. It resolves the broker's jars from Maven
Central with ``mvn`` into a cache, runs them on the machine's Java in KRaft
mode on loopback, and records the pid. It is not a client of the broker (that
is ``bus/``) and not meant for production: point ``--bootstrap-servers`` at a
real cluster for that.
"""

from orchestrator.devkafka.broker import BrokerState, BrokerStatus, LocalKafka, describe_down
from orchestrator.devkafka.processes import free_port_pair

__all__ = ["BrokerState", "BrokerStatus", "LocalKafka", "describe_down", "free_port_pair"]
