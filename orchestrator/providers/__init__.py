"""Providers: the plug-in family that carries out the phases, one module and one role each.

What it is: like dramatiq's ``brokers/``, each provider is a module here
(``local.py``, ``ssh.py``) plus its Ansible role (``playbooks/roles/<name>/``), and one
line in ``PROVIDERS``. A provider satisfies ``orchestrator.execution.Provider``:
connection vars and per-host vars for each host, its prechecks, the
environment variables its role may keep, and the secrets it needs.

What it is not: it runs nothing itself (``execution`` runs the playbooks, the
phase worker schedules them) and decides no state.

To add one: write ``<name>.py`` with a class satisfying ``Provider`` and a
``from_settings`` constructor, write ``playbooks/roles/<name>/tasks/<phase>.yml``
for every phase, and add it to ``PROVIDERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from orchestrator.errors import ConfigurationError
from orchestrator.execution import Provider
from orchestrator.providers.local import LocalProvider
from orchestrator.providers.ssh import SshProvider
from orchestrator.settings import WorkerSettings

PROVIDERS: Mapping[str, Callable[[WorkerSettings], Provider]] = MappingProxyType(
    {"local": LocalProvider.from_settings, "ssh": SshProvider.from_settings}
)


def build_provider(settings: WorkerSettings) -> Provider:
    """The provider ``settings.provider`` names, configured from ``settings``."""
    factory = PROVIDERS.get(settings.provider)
    if factory is None:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigurationError(f"unknown provider {settings.provider!r}; known: {known}")
    return factory(settings)


__all__ = ["PROVIDERS", "LocalProvider", "Provider", "SshProvider", "build_provider"]
