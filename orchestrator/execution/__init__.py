"""Execution: runs the phase playbooks through ansible-runner, a batch at a time.

What it is: the executor (``PhaseRunner``) that turns a phase, a node and the
systems placed there into one ansible-runner invocation and a ``BatchResult``
with one ``HostOutcome`` per system; and the ``local`` provider's sandbox
helpers (``local_sandbox``) that create sources and read name records for the
demo, the benchmarks and the tests. It is the only package importing
``ansible_runner``.

What it is not: it decides nothing. Which phase comes next, what a failure
means and when to roll back belong to ``orchestrator.migrations``; the
playbooks themselves live in ``playbooks/``.
"""

from orchestrator.execution.outcomes import BatchResult, HostOutcome, redact
from orchestrator.execution.runner import PhaseRunner
from orchestrator.execution.targets import NodeTarget, SystemTarget

__all__ = ["BatchResult", "HostOutcome", "NodeTarget", "PhaseRunner", "SystemTarget", "redact"]
