"""The orchestrator process: the long-running composition behind ``govmig run``.

What it is: ``Orchestrator`` opens the store, seeds the nodes, creates the
topics, and runs the intake reactor with the store-backed handler, the status
outbox publisher and the metrics endpoint, until it is stopped.

What it is not: it holds no logic of its own. It sits above the reactor and
the engine (which it wires together) and below the CLI, which parses options
and signals and calls ``start``, ``run_forever`` and ``stop``.
"""

from orchestrator.service.orchestrator import (
    DEFAULT_PARTITIONS,
    DEFAULT_SESSION_TIMEOUT_S,
    Orchestrator,
)

__all__ = ["DEFAULT_PARTITIONS", "DEFAULT_SESSION_TIMEOUT_S", "Orchestrator"]
