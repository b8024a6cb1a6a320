"""Topic administration: create the contract's topics if they are missing.

``govmig run`` calls ``ensure_topics`` once at startup, so a fresh cluster (or
the development broker) has the inbound, status and dead-letter topics with
enough partitions for several instances to share the work. Existing topics are
never changed: a cluster's operators own their partition counts and configs.
The replication factor is left to the broker's default (``-1``), which is 1 on
the single development broker and the cluster's own choice elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from orchestrator.bus.config import client_options, timeout_ms_of, unreachable
from orchestrator.bus.probe import ensure_reachable
from orchestrator.errors import TemporaryError
from orchestrator.settings import KafkaSettings

log = logging.getLogger(__name__)


def ensure_topics(settings: KafkaSettings, partitions: Mapping[str, int]) -> list[str]:
    """Create each topic of ``partitions`` (name -> count) that does not exist; the created ones."""
    ensure_reachable(settings)
    try:
        admin: Any = KafkaAdminClient(**client_options(settings))
    except KafkaError as error:
        raise unreachable(settings, error) from error
    try:
        return _create_missing(admin, settings, partitions)
    finally:
        admin.close()


def _create_missing(
    admin: Any, settings: KafkaSettings, partitions: Mapping[str, int]
) -> list[str]:
    created: list[str] = []
    # Twice at most: another instance may create some of them at the same moment.
    for _round in range(2):
        try:
            existing = set(admin.list_topics())
            missing = {name: n for name, n in partitions.items() if name not in existing}
            if missing:
                request = {name: {"num_partitions": n} for name, n in missing.items()}
                timeout_ms = timeout_ms_of(settings)
                admin.create_topics(request, timeout_ms=timeout_ms, wait_for_metadata=True)
                created.extend(missing)
            break
        except TopicAlreadyExistsError:
            continue
        except KafkaError as error:
            raise TemporaryError(
                f"cannot create topics on {settings.bootstrap_servers}: "
                f"{type(error).__name__}: {error}"
            ) from error
    for name in created:
        log.info("created topic %s with %d partitions", name, partitions[name])
    return sorted(created)
