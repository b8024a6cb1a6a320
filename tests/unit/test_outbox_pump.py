"""The outbox pump: the loops wake it after they commit; only its thread publishes."""

from __future__ import annotations

import threading

from orchestrator.engine.outbox import OutboxPump


class HeldOutbox:
    """Counts flushes, and holds each until released, as a broker that does not answer
    holds it; records the thread each ran on."""

    def __init__(self, *, held: bool) -> None:
        self.flushes, self.threads = 0, list[int]()
        self.flushing, self.flushed = threading.Event(), threading.Event()
        self.release = threading.Event()
        if not held:
            self.release.set()

    def flush_quietly(self) -> int:
        self.threads.append(threading.get_ident())
        self.flushing.set()
        self.release.wait()
        self.flushes += 1
        self.flushed.set()
        return 0


def test_a_wake_flushes_at_once_on_the_pumps_thread_not_the_callers() -> None:
    outbox = HeldOutbox(held=True)
    pump = OutboxPump(outbox, interval_s=3600)
    pump.start()
    try:
        pump.wake()  # returns while the flush it asked for is held: the caller never waits
        assert outbox.flushing.wait(5), "a wake flushes without waiting for the interval"
        assert outbox.flushes == 0
        outbox.release.set()
        assert outbox.flushed.wait(5)
    finally:
        outbox.release.set()
        pump.stop(timeout_s=5)
    assert outbox.flushes == 1
    assert outbox.threads != [threading.get_ident()]


def test_stop_ends_the_thread_without_another_flush() -> None:
    outbox = HeldOutbox(held=False)
    pump = OutboxPump(outbox, interval_s=3600)
    pump.start()
    pump.stop(timeout_s=5)
    assert outbox.flushes == 0
