"""chaos: the proof that ships with govmig, a chaos suite against the real components.

``python -m chaos [--short] [--scenario NAME ...] [--json]`` (``make chaos``)
runs each scenario (``chaos.scenarios``) against its own Kafka broker,
PostgreSQL, ansible-runner and, as root, the lab of real hosts; prints one
table of figures (``chaos.figures``) read from what those components wrote
(``chaos.audit``); and exits non-zero on any loss, double cutover or ledger
drift, and when a scenario could not run.
"""
