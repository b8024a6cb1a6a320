"""The demo: a local Kafka, a real ``govmig run``, a wave of sample migrations, and metrics.

What it is: the README's main-job command, composed from the same parts an
operator uses — ``devkafka`` for the broker, ``govmig run`` as a separate
process, the bus to publish the catalogue and the requests, the store to
watch progress. ``scenario`` (pure) picks the wave; ``progress`` renders it;
``session`` runs it.

What it is not: a second orchestrator. Nothing here changes a system's state;
it only publishes events and reads the store, exactly as an operator would.
"""

from orchestrator.demo.scenario import DemoPlan, choose_wave
from orchestrator.demo.session import DemoOptions, run_demo

__all__ = ["DemoOptions", "DemoPlan", "choose_wave", "run_demo"]
