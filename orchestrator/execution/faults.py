"""Failure injection for the tests and the demo: a phase that fails once for a system.

A ``HostVarsHook`` of the executor (``PhaseRunner(host_vars_hooks=[plan.host_vars])``):
it sets ``govmig_fail_phase`` on one host, which the provider's role reads to
fail that phase. Whoever starts the process sets it (``--inject-failures``);
an event never can, since the executor builds the inventory itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from orchestrator.errors import ConfigurationError
from orchestrator.execution.targets import SystemTarget
from orchestrator.migrations.states import Phase


class FaultPlan:
    """Phases that fail once per system, for tests and the demo: ``"sys:phase,..."``."""

    def __init__(self, faults: Mapping[str, Phase] | None = None) -> None:
        self._pending = dict(faults or {})
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """Read ``system:phase`` pairs separated by commas (empty: no faults)."""
        faults: dict[str, Phase] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            system_id, _, phase = item.partition(":")
            try:
                faults[system_id] = Phase(phase)
            except ValueError:
                raise ConfigurationError(
                    f"failure injection wants system:phase with a phase of "
                    f"{', '.join(Phase)}, got {item!r}"
                ) from None
        return cls(faults)

    def inject(self, system_id: str, phase: Phase) -> None:
        """Make ``phase`` fail once for ``system_id`` (replacing any fault it had)."""
        with self._lock:
            self._pending[system_id] = phase

    def take(self, system_id: str, phase: Phase) -> Phase | None:
        """``phase`` if it should fail for ``system_id`` this time (only once), else None."""
        with self._lock:
            if self._pending.get(system_id) is phase:
                del self._pending[system_id]
                return phase
            return None

    def host_vars(self, phase: Phase, system: SystemTarget) -> Mapping[str, Any]:
        """The executor's host-vars hook: ``govmig_fail_phase`` once, where a fault is due."""
        if self.take(system.system_id, phase) is None:
            return {}
        return {"govmig_fail_phase": phase.value}
