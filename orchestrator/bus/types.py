"""Plain types the bus speaks, so no caller ever handles a kafka-python object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

Headers = tuple[tuple[str, bytes], ...]


class Partition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


class RecordLike(Protocol):
    """Anything with a key, a value and headers can be sent: ``OutboundRecord``, a dead letter."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record to send exactly as given: dead letters and replays keep the original bytes."""

    key: bytes | None
    value: bytes | None
    headers: Headers = ()
