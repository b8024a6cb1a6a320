"""The one way tests and the chaos suite wait: poll until something holds, fail after a deadline.

``wait_until(probe, timeout_s=..., what=...)`` calls ``probe`` until it returns
something truthy and returns that, so a probe can hand back what it found. On
timeout it fails the test with ``what`` (a string, or a function called then,
so the message can tell what was last seen). ``interval_s`` is the first pause
between calls; use 0 when the probe blocks by itself (a Kafka poll, a reactor
loop turn). Each pause is half again as long as the one before, up to
``MAX_INTERVAL_S``: what is reached at once is seen at once, and a wait of a
minute costs the waiting process a few probes a second, not twenty (a probe that
reads the store's audit took 8 ms of CPU; the suite's waits run side by side
with the work they wait for, on the same two cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
MAX_INTERVAL_S = 0.5  # the longest pause between two probes


def wait_until(
    probe: Callable[[], T],
    *,
    timeout_s: float,
    what: str | Callable[[], str],
    interval_s: float = 0.05,
) -> T:
    """The first truthy value of ``probe()``; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pause = interval_s
    while True:
        found = probe()
        if found:
            return found
        now = time.monotonic()
        if now >= deadline:
            waited_for = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {waited_for}")
        if pause:
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 1.5, max(MAX_INTERVAL_S, interval_s))
