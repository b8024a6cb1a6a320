"""The phase worker: runs each system's current phase, a batch at a time, beside the intake.

What it is: the second active loop of ``govmig run`` (the intake reactor is the
first; they never import each other). The intake moves systems to ``placed``;
from there the worker admits them in wave order, plans batches of one phase
across the nodes run from one place (``scheduling``, pure), leases each batch
with compare-and-swap
(``claims``), runs one playbook per batch through an ``Executor``
(``running``), renews the leases of what runs (``heartbeat``), and applies
each system's outcome through the engine (``outcomes``). ``PhaseWorker``
(``phase_worker``) composes those jobs and owns their threads.

What it is not: it decides nothing about states (``orchestrator.migrations``
does, through ``orchestrator.engine``) and imports neither ansible-runner nor
a provider: it is handed an ``Executor`` and the provider's precheck.
"""

from orchestrator.worker.phase_worker import PhaseWorker
from orchestrator.worker.ports import Executor, WorkerConfig
from orchestrator.worker.scheduling import Limits

__all__ = ["Executor", "Limits", "PhaseWorker", "WorkerConfig"]
