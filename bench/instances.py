"""Several instances on PostgreSQL: intake and placement throughput with 1, 2 and 3 of them.

``python -m bench.instances [--registrations N] [--requests M] [--max-instances K]
[--partitions P] [--bootstrap-servers B] [--json]`` runs a throwaway PostgreSQL
(``orchestrator.devpostgres``) and a real broker (a throwaway ``LocalKafka``
unless ``--bootstrap-servers`` names one), then one round per instance count
from 1 to K. Each round gets a fresh database and fresh topics (P partitions
for the events, enough for K instances), starts that many intake-only
``govmig run`` processes in one consumer group (``bench.instances_fleet``), waits
until the group is stable with each instance owning partitions, and times:

* N ``gov.cloud.system.registered`` events, from the first record published
  until the store holds all N systems registered;
* then M ``gov.cloud.migration.requested`` for the first M of them, until the
  store shows all M placed (each placement is the ledger's compare-and-swap).

Publishing is inside both times (the instances consume while the records
arrive). After the requests, every instance's ``govcloud_ledger_conflicts_total``
is summed: swaps lost to another instance and redone, per placement. The
one-instance round is the baseline of the ratios; the table is printed in
markdown (or, with ``--json``, as one document).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.instances_fleet import Fleet
from bench.instances_report import Round, document, markdown_table
from bench.intake import request_records
from bench.intake_kafka import create_topics, kafka, publish, settings_for, unique
from orchestrator.bus.types import RecordLike
from orchestrator.devpostgres import create_database, drop_database, throwaway_cluster
from orchestrator.events.registration import registration_records
from orchestrator.inventory import generate_catalogue
from orchestrator.migrations import SystemState
from orchestrator.settings import KafkaSettings
from orchestrator.store import Store, count_by_state, open_store

CONFLICTS = "govcloud_ledger_conflicts_total"
BATCH_RETRIES = "govcloud_batch_retries_total"
POLL_S = 0.05
# No progress in the store for this long means something is wrong, not slow.
STALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Inputs:
    """The records every round publishes, encoded once."""

    registrations: Sequence[RecordLike]
    requests: Sequence[RecordLike]


def main(argv: Sequence[str] | None = None) -> None:
    """Run every round and print the table (or the JSON document)."""
    parser = _parser()
    options = parser.parse_args(argv)
    if not 0 < options.requests <= options.registrations:
        parser.error("--requests must be between 1 and --registrations (they name its systems)")
    if options.partitions < options.max_instances:
        parser.error("--partitions must be at least --max-instances, or an instance idles")
    systems = generate_catalogue(options.registrations)
    inputs = Inputs(registration_records(systems), request_records(systems[: options.requests]))
    rounds = []
    with kafka(options.bootstrap_servers) as bootstrap, throwaway_cluster() as server:
        for instances in range(1, options.max_instances + 1):
            rounds.append(_round(bootstrap, server, instances, inputs, options.partitions))
    print(json.dumps(document(rounds), indent=2) if options.json else markdown_table(rounds))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instances", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--registrations", type=int, default=6_000, help="N (6,000)")
    parser.add_argument("--requests", type=int, default=3_000, help="M, placed (3,000)")
    parser.add_argument("--max-instances", type=int, default=3, help="rounds of 1..K (3)")
    parser.add_argument("--partitions", type=int, default=6, help="of the events topic (6)")
    parser.add_argument("--bootstrap-servers", help="use this broker instead of a local one")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _round(bootstrap: str, server: str, instances: int, inputs: Inputs, partitions: int) -> Round:
    """One round on a fresh database and fresh topics with ``instances`` instances."""
    settings = _fresh_topics(bootstrap, partitions)
    with (
        _fresh_database(server) as state_db,
        tempfile.TemporaryDirectory(prefix="govmig-bench-instances-") as workdir,
        Fleet(settings, state_db, Path(workdir), instances) as fleet,
    ):
        fleet.wait_joined()
        with open_store(state_db, create=False) as store:
            registration_s = _timed(
                fleet, store, settings, inputs.registrations, SystemState.REGISTERED
            )
            request_s = _timed(fleet, store, settings, inputs.requests, SystemState.PLACED)
        return Round(
            instances=instances,
            registrations=len(inputs.registrations),
            registration_s=registration_s,
            requests=len(inputs.requests),
            request_s=request_s,
            conflicts=fleet.counter(CONFLICTS),
            batch_retries=fleet.counter(BATCH_RETRIES),
        )


def _fresh_topics(bootstrap: str, partitions: int) -> KafkaSettings:
    events, status = unique("bench.instances.events"), unique("bench.instances.status")
    dlq, control = unique("bench.instances.dlq"), unique("bench.instances.control")
    create_topics(bootstrap, {events: partitions, status: partitions, dlq: 1, control: 1})
    return settings_for(bootstrap, events=events, status=status, dlq=dlq, control=control)


@contextmanager
def _fresh_database(server: str) -> Iterator[str]:
    url = create_database(server, prefix="govmig_bench_")
    try:
        yield url
    finally:
        drop_database(url)


def _timed(
    fleet: Fleet,
    store: Store,
    settings: KafkaSettings,
    records: Sequence[RecordLike],
    state: SystemState,
) -> float:
    """Seconds from publishing ``records`` until the store holds that many systems in ``state``."""
    started = time.monotonic()
    publish(settings, settings.events_topic, records)
    _wait_for(fleet, store, state, len(records))
    return time.monotonic() - started


def _wait_for(fleet: Fleet, store: Store, state: SystemState, expected: int) -> None:
    seen, last = -1, time.monotonic()
    while True:
        with store.transaction() as session:
            counts = count_by_state(session)
        reached = counts.get(state, 0)
        if reached == expected:
            return
        now = time.monotonic()
        if reached != seen:
            seen, last = reached, now
        elif now - last > STALL_TIMEOUT_S:
            found = {str(s): n for s, n in counts.items() if n}
            raise RuntimeError(f"stalled at {reached} of {expected} {state}: {found}")
        fleet.check_alive()
        time.sleep(POLL_S)


if __name__ == "__main__":
    main()
