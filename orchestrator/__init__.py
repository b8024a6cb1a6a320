"""govmig: event-driven migration of government business systems onto the city cloud nodes.

The package is layered (checked by import-linter, see pyproject.toml):

    cli  ->  reactor / devkafka  ->  execution / bus / store / observability
         ->  events  ->  migrations / capacity (the pure core)  ->  inventory

Only ``bus`` and ``devkafka`` import the Kafka client, only ``execution`` imports
ansible-runner, and the pure core (state machine and placement) does no I/O.
"""

__version__ = "0.1.0"
