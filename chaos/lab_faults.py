"""Faults the lab's real components can suffer: a DNS server refusing updates, a host cut off.

Each is undone when its ``with`` block ends, whatever happened inside, so a
scenario that breaks leaves the lab as it found it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from orchestrator.lab import Lab
from orchestrator.lab.layout import read_state
from orchestrator.lab.render import TSIG_KEY_NAME
from orchestrator.lab.topology import plan_topology

ALLOWED = f'allow-update {{ key "{TSIG_KEY_NAME}"; }};'
REFUSED = "allow-update { none; };"


@contextmanager
def refusing_updates(lab: Lab) -> Iterator[None]:
    """BIND refuses every dynamic update (REFUSED), as a zone locked by its owners would."""
    conf = lab.paths.named_conf
    original = conf.read_text()
    if ALLOWED not in original:
        raise RuntimeError(f"{conf} does not allow updates as the lab writes it")
    conf.write_text(original.replace(ALLOWED, REFUSED))
    _reload_named(lab)
    try:
        yield
    finally:
        conf.write_text(original)
        _reload_named(lab)


@contextmanager
def cut_off(lab: Lab, host: str) -> Iterator[None]:
    """``host`` gone from the network: its link to the bridge down, then up again."""
    link = _link_of(lab, host)
    subprocess.run(["ip", "link", "set", "dev", link, "down"], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "link", "set", "dev", link, "up"], check=True)


def _reload_named(lab: Lab) -> None:
    state = read_state(lab.paths)
    if state is None:
        raise RuntimeError("the lab is not up")
    os.kill(state.pids["dns"], signal.SIGHUP)  # named reloads its config and zones


def _link_of(lab: Lab, host: str) -> str:
    state = read_state(lab.paths)
    if state is None:
        raise RuntimeError("the lab is not up")
    return plan_topology(lab.inventory, state.options).host(host).veth
