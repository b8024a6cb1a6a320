"""Replication passes and cutover downtime: what a migration moved and what it cost users.

A system's data reaches its target in passes: a ``full`` copy while the source
serves, ``delta`` passes that send only what changed since, the ``final`` pass
of the cutover after the source is quiesced, and (once reverting exists) a
``reverse`` pass back to the source. Downtime is measured from the moment the
source stops serving to the first healthy answer by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PassKind(StrEnum):
    """Which pass of a system's replication (the ``pass`` label of its metrics)."""

    FULL = "full"
    DELTA = "delta"
    FINAL = "final"
    REVERSE = "reverse"


@dataclass(frozen=True, slots=True)
class ReplicationPass:
    """One pass: the bytes it put on the wire, and its duration when the provider timed it."""

    kind: PassKind
    bytes_sent: int
    seconds: float | None = None
