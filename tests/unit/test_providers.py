"""The provider seam: the registry, and the ``local`` provider's side of a batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import ConfigurationError
from orchestrator.execution import NodeTarget, Provider
from orchestrator.migrations.states import Phase
from orchestrator.providers import PROVIDERS, LocalProvider, build_provider
from orchestrator.providers.local import check_work_root
from orchestrator.providers.local_sandbox import source_dir
from orchestrator.settings import WorkerSettings
from tests.fixtures.targets import system_target

NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")


def test_the_registry_builds_the_named_provider(tmp_path: Path) -> None:
    provider = build_provider(WorkerSettings(provider="local", work_root=tmp_path))
    assert isinstance(provider, LocalProvider)
    assert (provider.name, provider.work_root) == ("local", tmp_path.resolve())
    assert set(PROVIDERS) == {"local", "ssh"}


def test_an_unknown_provider_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown provider 'openstack'; known: local, ssh"):
        build_provider(WorkerSettings(provider="openstack", work_root=tmp_path))


def test_local_runs_every_host_here_with_no_secret_and_its_temp_files_in_the_runs(
    tmp_path: Path,
) -> None:
    provider: Provider = LocalProvider(work_root=tmp_path, python="/venv/bin/python")
    assert provider.connection_vars(system_target("a"), NODE) == {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/venv/bin/python",
    }
    assert provider.host_vars(system_target("a"), NODE) == {
        "govmig_work_root": str(tmp_path.resolve())
    }
    assert provider.secrets() == {}
    assert provider.env_names == frozenset()
    # The local connection's temp dir: the one the run's guard makes, not ~/.ansible/tmp.
    assert provider.run_env == {"ANSIBLE_REMOTE_TEMP": "$GOVMIG_RUN_TMP"}


def test_local_precheck_refuses_a_preflight_without_a_source(tmp_path: Path) -> None:
    provider = LocalProvider(work_root=tmp_path)
    source_dir(tmp_path, "here").mkdir(parents=True)
    assert provider.precheck(Phase.PREFLIGHT, system_target("here")) is None
    refused = provider.precheck(Phase.PREFLIGHT, system_target("missing"))
    assert refused is not None
    assert "no source for missing on this machine" in refused
    assert provider.precheck(Phase.PROVISION, system_target("missing")) is None, (
        "only preflight checks"
    )


@pytest.mark.parametrize(
    "path",
    ["relative/dir", "/tmp/{{ x }}", "/tmp/a b", "/tmp/%(x)s", "/tmp/../etc", "/tmp/$HOME"],
    ids=["relative", "template", "space", "percent", "dotdot", "dollar"],
)
def test_unsafe_work_roots_are_refused(path: str) -> None:
    with pytest.raises(ConfigurationError):
        check_work_root(Path(path))


def test_importing_the_types_the_worker_and_the_providers_does_not_load_ansible_runner() -> None:
    code = (
        "import sys\n"
        "import orchestrator.execution, orchestrator.providers, orchestrator.worker\n"
        "assert 'ansible_runner' not in sys.modules, 'ansible_runner was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
