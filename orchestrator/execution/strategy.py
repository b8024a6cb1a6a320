"""Which Ansible strategy a batch runs with: Mitogen's when it can load, else ``linear``.

Sits under ``runner.py``, which puts the chosen strategy's environment into
each ansible-runner invocation. Ansible's cost is per host per task (a fork
and a module upload each time); Mitogen's ``mitogen_free`` keeps one
interpreter per host and cuts it several times over. We run it as
``govmig_mitogen``, which lets each system of a batch go at its own pace with
only a few in their downtime at once (``GOVMIG_MAX_DOWN``), and keeps the modules
it serves between runs. ``linear``, the fallback, has neither: there every
system of a batch is down while the whole batch goes through the cutover's window.
Mitogen patches Ansible internals, so it is only used with ansible-core releases its
code supports, checked here from package metadata without
importing either (importing ``ansible_mitogen`` would pull Ansible into the
orchestrator's process).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass, field

from orchestrator.data_files import PLAYBOOK_DIR

# ansible-core releases that mitogen 0.3.x's code handles (0.3.54 branches on <= 2.20).
MITOGEN_ANSIBLE_RANGE = ((2, 10), (2, 20))
# 0.3.25 is the first release that carries ansible-core 2.19, the newest we allow.
MITOGEN_MIN_VERSION = (0, 3, 25)


@dataclass(frozen=True, slots=True)
class AnsibleStrategy:
    """A strategy's name and the environment that selects it."""

    name: str
    envvars: dict[str, str] = field(default_factory=dict)


LINEAR = AnsibleStrategy("linear")


def _version(package: str) -> tuple[int, ...] | None:
    """A package's version as numbers, or None when it is not installed."""
    try:
        text = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def mitogen_supports(ansible: tuple[int, ...] | None, mitogen: tuple[int, ...] | None) -> bool:
    """Whether this mitogen can drive this ansible-core."""
    if ansible is None or mitogen is None or mitogen < MITOGEN_MIN_VERSION:
        return False
    low, high = MITOGEN_ANSIBLE_RANGE
    return low <= ansible[:2] <= high


# Mitogen's free strategy, a few hosts in their downtime at once, with the modules it
# sends to hosts built once per installation rather than once per run
# (playbooks/strategy_plugins/).
MITOGEN = "govmig_mitogen"
STRATEGY_PLUGINS = PLAYBOOK_DIR / "strategy_plugins"
# "0" in a run's environment: its hosts keep no compiled code (govmig_mitogen reads
# it; a provider sets it, as the ssh provider's inventory says).
HOST_CODE_CACHE_ENV = "GOVMIG_HOST_CODE_CACHE"


def mitogen_installed() -> bool:
    """Whether ``ansible_mitogen`` is there to import, found without importing it."""
    return importlib.util.find_spec("ansible_mitogen") is not None


def choose_strategy(*, use_mitogen: bool) -> tuple[AnsibleStrategy, str]:
    """The strategy to use, and why, in words fit for a log line."""
    if not use_mitogen:
        return LINEAR, "mitogen turned off"
    ansible, mitogen = _version("ansible-core"), _version("mitogen")
    if not mitogen_supports(ansible, mitogen):
        return LINEAR, f"mitogen {mitogen} does not support ansible-core {ansible}"
    if not mitogen_installed():
        return LINEAR, "mitogen's ansible_mitogen package is not installed"
    envvars = {"ANSIBLE_STRATEGY_PLUGINS": str(STRATEGY_PLUGINS), "ANSIBLE_STRATEGY": MITOGEN}
    return AnsibleStrategy(MITOGEN, envvars), f"mitogen {mitogen} with ansible-core {ansible}"
