"""The intake benchmark: how fast the orchestrator takes in events, against a bare consumer.

``python -m bench.intake [--events N] [--repeat K] [--requests M] [--bootstrap-servers B]
[--json]`` publishes N ``gov.cloud.system.registered`` events (the generated
catalogue, encoded as ``govmig inventory publish`` does) to a real broker (a
throwaway ``LocalKafka`` on a free port pair unless ``--bootstrap-servers``
names one) and measures, in the same run:

* the intake rate: the real ``Reactor`` and ``IntakeHandler`` with the status
  outbox (``bench.intake_rig``) take the N events into a fresh SQLite store
  until all N systems are registered and their status events published;
* the raw rate: a bare kafka-python consumer reading the same records with the
  same ``max_poll_records`` and doing nothing (``bench.intake_raw``);
* migration requests with placement: M ``gov.cloud.migration.requested`` for
  the first M systems, taken in by the same store (each is queued, placed on
  a node by the ledger's compare-and-swap, and announced);
* the peak RSS of a fresh intake process registering 10,000 systems
  (``bench.intake_rss``), and the time to place 10,000 systems
  (``bench.intake_placement``).

Rates are the best of K rounds (the machines are noisy); each round uses a
fresh store, fresh consumer groups and a fresh status topic. It ends with a
markdown table (or, with ``--json``, one JSON document) and stops the broker.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kafka.record import util as kafka_record_util

from bench.intake_kafka import create_topics, kafka, publish, settings_for, unique
from bench.intake_placement import time_placement, time_plan_command
from bench.intake_raw import measure_raw
from bench.intake_report import Results, markdown_table
from bench.intake_rig import BATCH_SIZE, IntakeRig
from bench.intake_rss import measure_peak_memory
from orchestrator.events import OutboundRecord, encode, new_event
from orchestrator.events.data import MigrationRequested
from orchestrator.events.registration import registration_records
from orchestrator.inventory import generate_catalogue
from orchestrator.inventory.models import BusinessSystem

# As ``govmig run`` creates the inbound topic (``Orchestrator``'s DEFAULT_PARTITIONS).
PARTITIONS = 6
TEN_THOUSAND = 10_000


@dataclass(frozen=True)
class Topics:
    """The topics the rounds read: registrations, requests and the peak-memory run's."""

    events: str
    requests: str
    rss: str


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the table (or the JSON document)."""
    parser = _parser()
    options = parser.parse_args(argv)
    if not 0 <= options.requests <= options.events:
        parser.error("--requests must be between 0 and --events (requests name registered systems)")
    systems = generate_catalogue(options.events)
    with kafka(options.bootstrap_servers) as bootstrap:
        topics = _publish_inputs(bootstrap, systems, options.requests, options.rss_systems)
        results = _rounds(bootstrap, topics, options)
        if options.rss_systems:
            results = _with_peak_memory(bootstrap, topics, results, options.rss_systems)
    if options.plan_systems:
        results = _with_placement(results, options.plan_systems, options.repeat)
    if options.json:
        print(json.dumps({**results.document(), "crc32c": _crc32c()}, indent=2))
    else:
        print(markdown_table(results))
        print(f"\nkafka-python's CRC-32C: {_crc32c()}; best of {results.repeat} rounds.")


def _crc32c() -> str:
    """Whether kafka-python checks CRCs with the ``crc32c`` package or in pure Python."""
    return "native (crc32c package)" if kafka_record_util.crc32c_c is not None else "pure Python"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.intake", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=20_000, help="registrations (20,000)")
    parser.add_argument("--bootstrap-servers", help="use this broker instead of a local one")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best counts (3)")
    parser.add_argument(
        "--requests", type=int, default=5_000, help="migration requests to place (5,000; 0: none)"
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="max_poll_records")
    parser.add_argument(
        "--rss-systems", type=int, default=TEN_THOUSAND, help="peak-memory run (0: skip)"
    )
    parser.add_argument(
        "--plan-systems", type=int, default=TEN_THOUSAND, help="placement timing (0: skip)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _publish_inputs(
    bootstrap: str, systems: Sequence[BusinessSystem], requests: int, rss_systems: int
) -> Topics:
    topics = Topics(unique("bench.events"), unique("bench.requests"), unique("bench.rss"))
    inputs = (topics.events, topics.requests, topics.rss)
    create_topics(bootstrap, dict.fromkeys(inputs, PARTITIONS))
    settings = settings_for(
        bootstrap, events=topics.events, status=topics.events, dlq=topics.events
    )
    publish(settings, topics.events, registration_records(systems))
    publish(settings, topics.requests, request_records(systems[:requests]))
    if rss_systems:
        publish(settings, topics.rss, registration_records(generate_catalogue(rss_systems)))
    return topics


def request_records(systems: Sequence[BusinessSystem]) -> list[OutboundRecord]:
    """A ``gov.cloud.migration.requested`` for each system, as ``govmig migrate`` encodes it."""
    return [
        encode(new_event(MigrationRequested(system_id=s.id, requested_by="bench"), source="/bench"))
        for s in systems
    ]


def _rounds(bootstrap: str, topics: Topics, options: argparse.Namespace) -> Results:
    best: Results | None = None
    for _round in range(max(options.repeat, 1)):
        measured = _round_once(bootstrap, topics, options)
        best = measured if best is None else _best(best, measured)
    assert best is not None
    return best


def _round_once(bootstrap: str, topics: Topics, options: argparse.Namespace) -> Results:
    status, dlq = unique("bench.status"), unique("bench.dlq")
    create_topics(bootstrap, {status: PARTITIONS, dlq: 1})
    settings = settings_for(bootstrap, events=topics.events, status=status, dlq=dlq)
    raw = measure_raw(bootstrap, topics.events, options.events, batch_size=options.batch_size)
    with (
        tempfile.TemporaryDirectory(prefix="govmig-bench-intake-") as workdir,
        IntakeRig(settings, Path(workdir) / "govmig.db", batch_size=options.batch_size) as rig,
    ):
        intake = rig.consume(topics.events, options.events)
        _check(rig, registered=options.events, total=options.events)
        requests = rig.consume(topics.requests, options.requests) if options.requests else None
        _check(rig, registered=options.events - options.requests, total=options.events)
        states = rig.states()
    return Results(
        events=options.events,
        repeat=options.repeat,
        batch_size=options.batch_size,
        intake_rate=intake.rate,
        raw_rate=raw.rate,
        requests=options.requests,
        requests_rate=None if requests is None else requests.rate,
        requests_states=states if requests is not None else {},
    )


def _check(rig: IntakeRig, *, registered: int, total: int) -> None:
    """A benchmark that lost or refused events measured something else: fail loudly."""
    states, unpublished = rig.states(), rig.unpublished()
    wrong = states.get("registered", 0) != registered or sum(states.values()) != total
    if wrong or unpublished or rig.dead_letters:
        raise RuntimeError(
            f"intake went wrong: states {states} ({registered} registered of {total} expected), "
            f"{unpublished} status events unpublished, {rig.dead_letters} dead letters"
        )


def _best(one: Results, other: Results) -> Results:
    """Each rate at its best over the rounds."""
    requests = [r for r in (one.requests_rate, other.requests_rate) if r is not None]
    return replace(
        one,
        intake_rate=max(one.intake_rate, other.intake_rate),
        raw_rate=max(one.raw_rate, other.raw_rate),
        requests_rate=max(requests) if requests else None,
    )


def _with_peak_memory(bootstrap: str, topics: Topics, results: Results, systems: int) -> Results:
    status, dlq = unique("bench.status"), unique("bench.dlq")
    create_topics(bootstrap, {status: PARTITIONS, dlq: 1})
    peak = measure_peak_memory(
        bootstrap, events_topic=topics.rss, status_topic=status, dlq_topic=dlq, expected=systems
    )
    if peak.systems != systems:
        raise RuntimeError(f"the peak-memory run registered {peak.systems} of {systems} systems")
    return replace(results, rss_systems=systems, peak_rss_mb=peak.peak_rss_mb)


def _with_placement(results: Results, systems: int, repeat: int) -> Results:
    pure = time_placement(systems, repeat=max(repeat, 1))
    command = time_plan_command(systems, repeat=max(repeat, 1))
    return replace(
        results,
        placement_systems=systems,
        placement_s=pure.seconds,
        placement_placed=pure.placed,
        plan_command_s=command.seconds,
    )


if __name__ == "__main__":
    main()
