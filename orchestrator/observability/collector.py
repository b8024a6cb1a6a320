"""``FleetCollector``: the scrape-time collector that reads the fleet's figures from the store.

Registered on the same registry as the pipeline metrics, it is called by
prometheus_client on every scrape: it yields the plan's targets, opens one
session, reads a ``FleetSnapshot`` (``snapshot.py``) and yields its families
(``fleet.py``). Nothing read from the store is cached, so the figures never
drift from the database, whichever instance is scraped and after any restart.
PRD platforms connected are in the store too (``gov.cloud.platform.connected``
writes their ledger rows); the inventory only names the 7, so each one not
connected yet reads ``govcloud_platform_connected 0``. ``hosts.yml``'s
``connected`` flag is not read for it.

If the store cannot be read, the scrape still succeeds with the plan targets,
the pipeline metrics and ``govcloud_store_up 0``: an unreadable database is a
different alert from an orchestrator that is down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from orchestrator.inventory import Calendar, Inventory
from orchestrator.observability.families import (
    FleetSnapshot,
    calendar_families,
    fleet_families,
    plan_families,
)
from orchestrator.observability.snapshot import read_snapshot
from orchestrator.store import Store

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The current time, aware, in UTC: the default clock for system ages."""
    return datetime.now(UTC)


class FleetCollector(Collector):
    """Yields the plan targets and the store's fleet figures at every scrape."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        inventory: Inventory | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._calendar = calendar
        # Every PRD platform gets a connected series, 0 until its connect event is stored.
        self._platform_ids = () if inventory is None else tuple(inventory.platforms)

    def collect(self) -> Iterator[Metric]:
        """The plan targets, then the fleet figures and whether the store could be read."""
        yield from plan_families()
        if self._calendar is not None:
            yield from calendar_families(self._calendar, self._clock())
        started = time.monotonic()
        snapshot = self._read()
        if snapshot is not None:
            yield from fleet_families(snapshot)
        yield GaugeMetricFamily(
            "govcloud_store_up",
            "1 if this scrape could read the state store, else 0.",
            value=0 if snapshot is None else 1,
        )
        yield GaugeMetricFamily(
            "govcloud_store_read_duration_seconds",
            "Time this scrape spent reading the state store.",
            value=time.monotonic() - started,
        )

    def _read(self) -> FleetSnapshot | None:
        try:
            # Closing the session rolls its read transaction back: a scrape writes nothing.
            with self._store.session() as session:
                snapshot = read_snapshot(session, now=self._clock())
            return replace(snapshot, platform_ids=self._platform_ids)
        except Exception:
            # Any failure, not just database errors: a scrape must still serve the
            # pipeline metrics, and the log keeps the traceback.
            log.exception("metrics scrape could not read the state store %s", self._store.where)
            return None
