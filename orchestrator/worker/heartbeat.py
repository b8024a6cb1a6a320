"""Lease heartbeats: keep the leases of every system in a running batch alive.

Every ``interval_s`` the heartbeat renews this instance's leases on the
systems of its running batches for another ``ttl_s``. A lease not renewed in
time (its instance died) expires, and another instance claims the system and
re-runs its phase, which is safe because phases are idempotent. A renewal that
comes back short means another instance took a lease over: that is logged
loudly, since the two may now run the same phase.

At each beat it also frees the leases of any instance PostgreSQL says is gone
(its session, and so its advisory lock, ended: ``store.liveness``), so its
systems are taken over at once rather than after their time to live.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from orchestrator.errors import GovmigError
from orchestrator.store import Store, liveness
from orchestrator.store import leases as lease_store
from orchestrator.worker.running import RunningBatches

log = logging.getLogger(__name__)


class LeaseHeartbeat:
    """Renews the leases of ``running``'s systems until ``stopping`` is set."""

    def __init__(
        self, store: Store, running: RunningBatches, *, owner: str, ttl_s: float, interval_s: float
    ) -> None:
        self._store, self._running, self._owner = store, running, owner
        self._ttl_s, self._interval_s = ttl_s, interval_s

    def run(self, stopping: threading.Event) -> None:
        """The heartbeat thread's body."""
        while not stopping.wait(self._interval_s):
            self.beat()

    def beat(self) -> None:
        """Renew once, and free the leases of the dead; a failure is retried at the next beat."""
        self._free_the_dead()
        ids = self._running.system_ids()
        if not ids:
            return
        try:
            with self._store.transaction() as session:
                held = lease_store.renew(
                    session, ids, owner=self._owner, now=datetime.now(UTC), ttl_s=self._ttl_s
                )
        except GovmigError as error:
            log.warning("lease heartbeat failed, retrying: %s", error)
            return
        # A batch that finished meanwhile gave its leases back: that is not a loss.
        if lost := sorted((ids - held) & self._running.system_ids()):
            log.error("leases lost to another instance (not renewed in time): %s", lost)

    def _free_the_dead(self) -> None:
        now = datetime.now(UTC)
        try:
            with self._store.transaction() as session:
                others = lease_store.live_owners(session, now=now) - {self._owner}
                dead = liveness.dead_owners(session, others)
                freed = lease_store.expire(session, dead, now=now)
        except GovmigError as error:
            log.warning("could not check which instances are alive, retrying: %s", error)
            return
        if freed:
            log.warning(
                "instance(s) %s gone (database session ended): %d leases freed now: %s",
                ", ".join(sorted(dead)),
                len(freed),
                freed,
            )
