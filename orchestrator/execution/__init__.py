"""Execution: runs the phase playbooks through ansible-runner, a batch at a time.

What it is: the executor (``runner.PhaseRunner``) that turns a phase and the
systems of a batch, on one node or several, into one ansible-runner
invocation and a ``RunResult`` with one ``HostOutcome`` per system, run here
or streamed to the nodes' execution host (``remote``); the targets and
outcomes it speaks in;
and the ``Provider`` protocol that every provider (``orchestrator.providers``)
satisfies. ``runner`` and ``remote`` are the only modules in govmig importing
``ansible_runner``, and this package's ``__init__`` does not import them: the
types here are cheap to import (import-linter checks).

What it is not: it decides nothing. Which phase comes next, what a failure
means and when to roll back belong to ``orchestrator.migrations``; the
playbooks themselves live in ``playbooks/``.
"""

from orchestrator.execution.faults import FaultPlan
from orchestrator.execution.outcomes import HostOutcome, RunResult
from orchestrator.execution.provider import Provider
from orchestrator.execution.targets import (
    ExecutionHost,
    HostVarsHook,
    NodeTarget,
    NodeWork,
    SystemTarget,
)

__all__ = [
    "ExecutionHost",
    "FaultPlan",
    "HostOutcome",
    "HostVarsHook",
    "NodeTarget",
    "NodeWork",
    "Provider",
    "RunResult",
    "SystemTarget",
]
