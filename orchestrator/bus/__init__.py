"""The Kafka bus: the only package that imports the Kafka client (kafka-python).

It turns ``KafkaSettings`` into a typed ``Producer`` that waits for broker
acknowledgements, a ``Consumer`` that commits only the offsets it is told to,
and a ``read_topic`` for bounded, group-less reads (``govmig dlq list``).
Everything above it speaks ``KafkaRecord``/``OutboundRecord`` and ``Partition``,
never kafka-python's own types, and sees client failures as ``TemporaryError``.

It is not the reactor: it knows nothing of decoding, handlers or dead letters.
"""

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
    "read_topic",
]
