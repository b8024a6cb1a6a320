"""The outbox pump: the loops wake it after they commit; only its thread publishes."""

from __future__ import annotations

import threading
import time

from orchestrator.engine.outbox import OutboxPump


class SlowOutbox:
    """Counts flushes; each takes as long as a broker that does not answer makes it."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.flushes = seconds, 0
        self.flushed = threading.Event()

    def flush_quietly(self) -> int:
        time.sleep(self.seconds)
        self.flushes += 1
        self.flushed.set()
        return 0


def test_a_wake_flushes_at_once_on_the_pumps_thread_not_the_callers() -> None:
    outbox = SlowOutbox(seconds=0.5)
    pump = OutboxPump(outbox, interval_s=3600)
    pump.start()
    try:
        started = time.monotonic()
        pump.wake()
        assert time.monotonic() - started < 0.1  # the caller (a loop) never waits on Kafka
        assert outbox.flushed.wait(5), "a wake flushes without waiting for the interval"
    finally:
        pump.stop(timeout_s=5)
    assert outbox.flushes == 1


def test_stop_ends_the_thread_without_another_flush() -> None:
    outbox = SlowOutbox(seconds=0)
    pump = OutboxPump(outbox, interval_s=3600)
    pump.start()
    pump.stop(timeout_s=5)
    assert outbox.flushes == 0
