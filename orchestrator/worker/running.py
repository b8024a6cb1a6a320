"""The batches this worker is running now: the one piece of state its threads share.

The scheduler adds a batch when it leases one, the batch thread removes it
when its outcomes are applied, and the heartbeat renews the leases of every
system still here. Every access takes the lock; each method is a few
dictionary operations.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from orchestrator.worker.claims import Claimed
from orchestrator.worker.scheduling import Batch


@dataclass
class Running:
    """One leased batch under way, and the switch that cancels its playbook run."""

    claimed: Claimed
    cancel: threading.Event = field(default_factory=threading.Event)


class RunningBatches:
    """Thread-safe registry of the batches under way, by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Running] = {}

    def add(self, key: str, running: Running) -> None:
        """A batch was leased and is handed to a batch thread."""
        with self._lock:
            self._running[key] = running

    def remove(self, key: str) -> None:
        """A batch is done (or failed): its leases are about to go."""
        with self._lock:
            self._running.pop(key, None)

    def batches(self) -> dict[str, Batch]:
        """Every batch under way, by key."""
        with self._lock:
            return {key: r.claimed.batch for key, r in self._running.items()}

    def system_ids(self) -> set[str]:
        """Every system whose lease a running batch holds."""
        with self._lock:
            return {sid for r in self._running.values() for sid in r.claimed.system_ids}

    def cancel(self, key: str) -> bool:
        """Cancel one batch's run; False if it is gone or was cancelled already."""
        with self._lock:
            found = self._running.get(key)
        if found is None or found.cancel.is_set():
            return False
        found.cancel.set()
        return True

    def cancel_all(self) -> None:
        """Cancel every run (the worker is stopping)."""
        with self._lock:
            for running in self._running.values():
                running.cancel.set()
