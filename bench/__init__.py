"""Benchmarks: how fast the orchestrator is, against a baseline measured in the same run.

Not part of the ``orchestrator`` package and not tests: the machines they run
on are noisy, so each benchmark reports a ratio against a baseline it measures
itself (a bare Kafka consumer reading the same records, for instance) as well
as the absolute figures. Run them as modules, e.g. ``python -m bench.intake``.
"""
