"""Several ``govmig run`` instances on one PostgreSQL share a wave; one is killed with SIGKILL."""

from __future__ import annotations

import re
import signal
import time

from chaos.figures import Figures
from chaos.harness import GovmigRun
from chaos.polling import wait_until
from chaos.wave import Wave

STARTED = re.compile(r"phase worker (\S+) started")
INSTANCES = 3


def instance_id(run: GovmigRun) -> str:
    """The id a run chose for itself (``<host>-<n>``, its flock slot), from its log."""
    found = wait_until(
        lambda: STARTED.search(run.written()), timeout_s=60, what="an instance's id in its log"
    )
    assert found is not None  # wait_until returns only what is truthy
    return found.group(1)


def share_and_kill_one(wave: Wave, figures: Figures, *, timeout_s: float) -> None:
    """Three instances with default ids share ``wave``; the first to hold leases dies."""
    wave.request()
    runs = [wave.start(f"instance-{n}") for n in range(1, INSTANCES + 1)]
    ids = {instance_id(run): run for run in runs}
    victim_id = wait_until(
        lambda: next((i for i in ids if wave.count(f"lease_owner = '{i}'") > 0), None),
        timeout_s=timeout_s,
        what="an instance holding leases",
    )
    assert victim_id is not None
    victim = ids.pop(victim_id)
    victim.signal(signal.SIGKILL)
    victim.process.wait(10)
    killed_at = time.monotonic()
    figures.faults += 1
    wait_until(
        lambda: wave.count(f"lease_owner = '{victim_id}'") == 0,
        timeout_s=timeout_s,
        what=f"the leases of {victim_id} freed",
    )
    freed_s = time.monotonic() - killed_at
    figures.notes.append(f"killed {victim_id} holding leases; its leases freed in {freed_s:.1f} s")
    wave.settle()
    for run in ids.values():
        wave.stop(run)
