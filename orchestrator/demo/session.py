"""Run the demo end to end, and leave nothing behind.

1. A fresh demo home (``var/demo``): its own broker data, state database,
   sandbox work root and runner artifacts, so a second run starts clean.
2. ``devkafka`` starts a single-node Kafka on the demo's ports.
3. The wave's sources are created (``sites``): on this machine for the
   ``local`` provider, or, as root, on the hosts of a lab of real hosts (sshd,
   BIND 9) for the ``ssh`` provider; each registration names its source host.
4. ``govmig run`` starts as a separate process, as an operator would run it.
   The PRD platforms of the demo (``--platforms``, default Guangzhou's) are
   connected (``gov.cloud.platform.connected``: capacity, the lab's IPv6 prefix
   for them, their target hosts on the lab) and stored before anything else is
   published, so their cities' systems of the wave are placed on them.
5. The whole catalogue is published as registrations, then one migration
   request per system of the wave and its approval by the change board (four
   eyes: the cutover gates hold critical and high systems without one);
   progress is read from the store.
6. A summary; then, in a terminal, the metrics stay up until Ctrl-C.

Everything started here is stopped in ``finally`` blocks, in reverse order, on
Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.live import Live

from orchestrator.bus import Producer
from orchestrator.demo.progress import SystemProgress, Tally, render, tally
from orchestrator.demo.scenario import DemoPlan, choose_wave
from orchestrator.demo.sites import PlatformSite, Sites, choose_sites
from orchestrator.demo.summary import Summary, summarise
from orchestrator.devkafka import LocalKafka
from orchestrator.errors import ConfigurationError
from orchestrator.events.codec import encode, new_event
from orchestrator.events.data import (
    MigrationApproved,
    MigrationRequested,
    NodeTotals,
    PlatformConnected,
)
from orchestrator.events.registration import registration_records
from orchestrator.inventory import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.topology import Inventory
from orchestrator.lab import choose_nodes, choose_platforms
from orchestrator.settings import KafkaSettings, LocalKafkaSettings
from orchestrator.store import Store, list_systems, node_usage, open_store, platform_targets
from orchestrator.store import replication as replication_store

DEMO_SOURCE = "/govmig/demo"
DEMO_ACTOR = "govmig-demo"
DEMO_APPROVER = "change-board"
DEMO_CHANGE = "DEMO-1"
DEMO_WAVE = 1
_READY_TIMEOUT_S = 90.0
# A platform's capacity in the demo: Guangzhou's README figures, room for any system of its city.
_PLATFORM_CAPACITY = NodeTotals(vcpu=12_000, memory_gb=36_000, storage_gb=1_200_000)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``govmig demo`` takes from its command line."""

    home: Path = Path("var/demo")
    kafka_port: int = 19092
    metrics_port: int = 9464
    per_node: int = 2
    failures: int = 0
    timeout_s: float = 900.0
    mitogen: bool = True
    stay: bool = False  # keep the metrics up until Ctrl-C (only in a terminal)
    provider: str | None = None  # local or ssh; None: ssh on the lab as root, else local
    nodes: tuple[str, ...] = ()  # the city nodes whose systems move (default all 14)
    platforms: tuple[str, ...] = ("guangzhou",)  # PRD platforms connected, one system onto each


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the demo; the exit code is 0 only if every system ended as expected."""
    signal.signal(signal.SIGTERM, _exit_through_finally)
    inventory = load_inventory()
    catalogue = load_systems(DEFAULT_CATALOGUE, inventory)
    plan = choose_wave(
        catalogue,
        inventory,
        per_node=options.per_node,
        failures=options.failures,
        nodes=choose_nodes(inventory, options.nodes),
        platforms=(platforms := choose_platforms(inventory, options.platforms)),
    )
    home = options.home.resolve()
    sites, why = choose_sites(
        options.provider, home, inventory, nodes=plan.nodes, platforms=platforms
    )
    console.print(f"[green]✓[/] {why}")
    _fresh_home(home, options, sites)
    with contextlib.ExitStack() as stack:
        bootstrap = _start_kafka(home, options, console, stack)
        registered = _prepare_sources(sites, plan, console, stack)
        url = _state_url(home)
        stack.enter_context(_orchestrator(home, options, plan, bootstrap, console, sites))
        _connect_platforms(bootstrap, url, sites.platform_sites(), console)
        _publish(bootstrap, _with(catalogue, registered), plan, console)
        started = time.monotonic()
        summary = _watch(url, plan, inventory, options, console)
        console.print(f"\nwave {DEMO_WAVE} took {time.monotonic() - started:.0f} s")
        _report(summary, options, console)
        if options.stay:
            _hold(console)
        return 0 if summary.as_expected else 1
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises


def _exit_through_finally(signum: int, _frame: object) -> NoReturn:
    """SIGTERM (``kill``, a supervisor) ends the demo as Ctrl-C does: through the ``finally``
    blocks that stop what it started. Python's default would end it at once, leaving the
    broker, ``govmig run`` and the sample services running."""
    raise SystemExit(128 + signum)


def _fresh_home(home: Path, options: DemoOptions, sites: Sites) -> None:
    """Stop whatever an earlier demo left in ``home`` and remove it."""
    if not home.exists():
        return
    LocalKafka(_kafka_settings(home, options)).down()
    sites.clear()
    shutil.rmtree(home)


def _kafka_settings(home: Path, options: DemoOptions) -> LocalKafkaSettings:
    return LocalKafkaSettings(
        port=options.kafka_port,
        controller_port=options.kafka_port + 1,
        data_dir=home / "kafka",
    )


def _start_kafka(
    home: Path, options: DemoOptions, console: Console, stack: contextlib.ExitStack
) -> str:
    broker = LocalKafka(_kafka_settings(home, options))
    with console.status("starting Apache Kafka (the first run resolves its jars with Maven)"):
        status = broker.up()
    stack.callback(broker.down)
    console.print(f"[green]✓[/] Kafka {status.version} on {status.bootstrap_servers}")
    return status.bootstrap_servers


def _prepare_sources(
    sites: Sites, plan: DemoPlan, console: Console, stack: contextlib.ExitStack
) -> list[BusinessSystem]:
    with console.status(f"creating {len(plan.wave)} source systems (data and a live service)"):
        registered = sites.prepare(plan.wave, stack)
    where = "on this machine" if sites.provider == "local" else "on the lab's source hosts"
    console.print(f"[green]✓[/] {len(plan.wave)} sources serving {where}")
    return registered


def _with(
    catalogue: Sequence[BusinessSystem], registered: Sequence[BusinessSystem]
) -> list[BusinessSystem]:
    """The catalogue, with the wave's records as their sources were created."""
    by_id = {system.id: system for system in registered}
    return [by_id.get(system.id, system) for system in catalogue]


def _state_url(home: Path) -> str:
    return f"sqlite:///{home / 'govmig.db'}"


@contextlib.contextmanager
def _orchestrator(
    home: Path,
    options: DemoOptions,
    plan: DemoPlan,
    bootstrap: str,
    console: Console,
    sites: Sites,
) -> Iterator[None]:
    """``govmig run`` in its own process, stopped with SIGTERM like any service."""
    log_path = home / "orchestrator.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*_run_argv(home, options, bootstrap), *sites.run_args()],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_run_env(plan),
        )
    try:
        _await_ready(process, options.metrics_port, log_path)
        console.print(
            f"[green]✓[/] govmig run (pid {process.pid}), metrics on "
            f"http://127.0.0.1:{options.metrics_port}/metrics, log {log_path}"
        )
        yield
    finally:
        _terminate(process)


def _run_argv(home: Path, options: DemoOptions, bootstrap: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestrator",
        "run",
        "--bootstrap-servers",
        bootstrap,
        "--state-db",
        _state_url(home),
        "--metrics-port",
        str(options.metrics_port),
        "--artifacts-dir",
        str(home / "artifacts"),
        "--mitogen" if options.mitogen else "--no-mitogen",
    ]


def _run_env(plan: DemoPlan) -> dict[str, str]:
    env = dict(os.environ)
    # Failure injection is a demo and test switch: it never comes from an event.
    env["GOVMIG_INJECT_FAILURES"] = ",".join(f"{s}:{p}" for s, p in plan.failures.items())
    return env


def _await_ready(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(
                f"govmig run exited with status {process.returncode}:\n{_tail(log_path)}"
            )
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2),
        ):
            return
        time.sleep(0.3)
    raise ConfigurationError(
        f"govmig run did not serve metrics on port {port} within {_READY_TIMEOUT_S:.0f} s "
        f"(is the port taken? try --metrics-port):\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _publish(
    bootstrap: str, catalogue: Sequence[BusinessSystem], plan: DemoPlan, console: Console
) -> None:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    requests = [
        encode(new_event(data, source=DEMO_SOURCE))
        for system_id in plan.ids
        for data in (
            MigrationRequested(system_id=system_id, wave=DEMO_WAVE, requested_by=DEMO_ACTOR),
            # Four eyes: the change board, not the requester, approves each cutover (the
            # default policy holds critical and high systems in ready without one).
            MigrationApproved(
                system_id=system_id, change_ref=DEMO_CHANGE, approved_by=DEMO_APPROVER
            ),
        )
    ]
    with Producer(settings) as producer:
        sent = producer.send_all(
            settings.events_topic, registration_records(catalogue, source=DEMO_SOURCE)
        )
        producer.send_all(settings.events_topic, requests)
    console.print(
        f"[green]✓[/] published {sent.sent} registrations and {len(plan.ids)} migration "
        f"requests (wave {DEMO_WAVE}), each approved by {DEMO_APPROVER} under {DEMO_CHANGE}; "
        f"injected failures: {_failures_text(plan)}"
    )


def _connect_platforms(
    bootstrap: str, url: str, platforms: Sequence[PlatformSite], console: Console
) -> None:
    """Connect each platform and wait until the orchestrator has stored it."""
    if not platforms:
        return
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    events = [encode(new_event(_connected(site), source=DEMO_SOURCE)) for site in platforms]
    with Producer(settings) as producer:
        producer.send_all(settings.events_topic, events)
    wanted = {site.platform for site in platforms}
    deadline = time.monotonic() + _READY_TIMEOUT_S
    with open_store(url, create=False) as store:
        while not wanted <= _stored_platforms(store):
            if time.monotonic() > deadline:
                raise ConfigurationError(f"the orchestrator never stored platforms {wanted}")
            time.sleep(0.2)
    for site in platforms:
        hosts = f", hosts {', '.join(site.hosts)}" if site.hosts else ""
        console.print(f"[green]✓[/] connected platform {site.platform} ({site.ipv6_prefix}{hosts})")


def _connected(site: PlatformSite) -> PlatformConnected:
    return PlatformConnected(
        platform_id=site.platform,
        capacity=_PLATFORM_CAPACITY,
        ipv6_prefix=site.ipv6_prefix,
        hosts=site.hosts or None,
        requested_by=DEMO_ACTOR,
    )


def _stored_platforms(store: Store) -> set[str]:
    with store.transaction() as session:
        return {p for p, target in platform_targets(session).items() if target.ipv6_prefix}


def _failures_text(plan: DemoPlan) -> str:
    return ", ".join(f"{s} in {p}" for s, p in plan.failures.items()) or "none"


def _watch(
    url: str, plan: DemoPlan, inventory: Inventory, options: DemoOptions, console: Console
) -> Summary:
    cities = {node.id: node.city for node in inventory.nodes.values()}
    cities |= {platform.id: platform.city for platform in inventory.platforms.values()}
    names = {target: inventory.cities[city].name_zh for target, city in cities.items()}
    deadline = time.monotonic() + options.timeout_s
    with open_store(url, create=False) as store:
        read = _reader(store, plan)
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            current = read()
            while current.finished < len(plan.wave) and time.monotonic() < deadline:
                live.update(render(current, title=_title(current, plan), node_names=names))
                time.sleep(0.5)
                current = read()
            live.update(render(current, title=_title(current, plan), node_names=names))
        with store.transaction() as session:
            rows = list_systems(session, wave=DEMO_WAVE)
            sent = replication_store.bytes_by_system(session, plan.ids)
            return summarise(rows, node_usage(session), plan, sent)


def _reader(store: Store, plan: DemoPlan) -> Callable[[], Tally]:
    wanted = set(plan.ids)

    def read() -> Tally:
        with store.transaction() as session:
            rows = list_systems(session, wave=DEMO_WAVE)
        return tally(SystemProgress(row.node or "-", row.state) for row in rows if row.id in wanted)

    return read


def _title(current: Tally, plan: DemoPlan) -> str:
    return f"wave {DEMO_WAVE}: {current.finished}/{len(plan.wave)} systems finished"


def _report(summary: Summary, options: DemoOptions, console: Console) -> None:
    for line in summary.lines():
        console.print(line)
    console.print(
        f"\nLook closer:  govmig status --state-db {_state_url(options.home.resolve())}\n"
        f"              govmig capacity --state-db {_state_url(options.home.resolve())}\n"
        f"              curl -s http://127.0.0.1:{options.metrics_port}/metrics | grep govcloud_"
    )


def _hold(console: Console) -> None:
    console.print("\nThe orchestrator and its metrics stay up; press Ctrl-C to stop everything.")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
