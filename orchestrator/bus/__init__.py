"""The Kafka bus: the only package that imports the Kafka client (kafka-python).

It turns ``KafkaSettings`` into a typed ``Producer`` that waits for broker
acknowledgements, a ``Consumer`` that commits only the offsets it is told to,
a ``read_topic`` for bounded, group-less reads (``govmig dlq list``) and
``ensure_topics`` to create missing topics at startup.
Everything above it speaks ``KafkaRecord``/``OutboundRecord`` and ``Partition``,
never kafka-python's own types, and sees client failures as ``TemporaryError``.

It is not the reactor: it knows nothing of decoding, handlers or dead letters.
"""

from orchestrator.bus.admin import ensure_topics
from orchestrator.bus.consumer import Consumer, RebalanceCallbacks
from orchestrator.bus.producer import Producer, SendReport
from orchestrator.bus.reader import read_topic
from orchestrator.bus.types import Partition

__all__ = [
    "Consumer",
    "Partition",
    "Producer",
    "RebalanceCallbacks",
    "SendReport",
    "ensure_topics",
    "read_topic",
]
