"""The one way tests and the chaos suite wait: poll until something holds, fail after a deadline.

``wait_until(probe, timeout_s=..., what=...)`` calls ``probe`` until it returns
something truthy and returns that, so a probe can hand back what it found. On
timeout it fails the test with ``what`` (a string, or a function called then,
so the message can tell what was last seen). ``interval_s`` is the pause
between calls; use 0 when the probe blocks by itself (a Kafka poll, a reactor
loop turn).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T],
    *,
    timeout_s: float,
    what: str | Callable[[], str],
    interval_s: float = 0.05,
) -> T:
    """The first truthy value of ``probe()``; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            waited_for = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {waited_for}")
        if interval_s:
            time.sleep(interval_s)
