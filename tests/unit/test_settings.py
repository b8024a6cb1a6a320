"""Settings refuse what they do not know: unknown options and misspelled ``GOVMIG_*`` variables.

Each mistake is one ``SettingsError`` naming the setting (and the closest known
one), never its value; the CLI prints it as one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from orchestrator.cli import build_app
from orchestrator.errors import ConfigurationError
from orchestrator.settings import (
    CLI_VARIABLES,
    KafkaSettings,
    LocalKafkaSettings,
    MetricsSettings,
    PlacementSettings,
    SettingsError,
    StoreSettings,
    WorkerSettings,
    known_variables,
)
from tests.fixtures.cli import govmig_process

app = build_app()


@pytest.fixture(autouse=True)
def no_govmig_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without govmig's variables."""
    for name in os.environ:
        if name.upper().startswith("GOVMIG_"):
            monkeypatch.delenv(name)


def test_an_unknown_option_is_refused_naming_it_and_the_closest_known_one() -> None:
    with pytest.raises(SettingsError) as raised:
        StoreSettings(stat_db="sqlite:///x.db")  # type: ignore[call-arg]
    assert str(raised.value) == "unknown store option 'stat_db' (did you mean state_db?)"
    assert isinstance(raised.value, ConfigurationError)  # the CLI prints it as one line


def test_an_unknown_option_like_nothing_known_is_refused_without_a_guess() -> None:
    with pytest.raises(SettingsError) as raised:
        MetricsSettings(colour="blue")  # type: ignore[call-arg]
    assert str(raised.value) == "unknown metrics option 'colour'"


def test_a_misspelled_govmig_variable_is_refused_naming_the_right_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVMIG_STAT_DB", "sqlite:///x.db")
    with pytest.raises(SettingsError) as raised:
        KafkaSettings()  # any settings class: they share the GOVMIG_ prefix
    assert str(raised.value) == (
        "unknown environment variable GOVMIG_STAT_DB (did you mean GOVMIG_STATE_DB?)"
    )


def test_every_govmig_variable_read_by_some_settings_class_is_accepted_by_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVMIG_STATE_DB", "sqlite:///elsewhere.db")
    monkeypatch.setenv("GOVMIG_PHASE_BATCH_SIZE", "7")
    monkeypatch.setenv("GOVMIG_LOCAL_KAFKA_PORT", "19092")
    monkeypatch.setenv("GOVMIG_PLACEMENT_STRATEGY", "pack")
    monkeypatch.setenv("GOVMIG_WORKER", "false")  # read by a CLI option
    assert KafkaSettings().bootstrap_servers == "127.0.0.1:9092"
    assert StoreSettings().state_db == "sqlite:///elsewhere.db"
    assert WorkerSettings().phase_batch_size == 7
    assert LocalKafkaSettings().port == 19092
    assert PlacementSettings().strategy == "pack"


def test_variables_outside_govmig_and_those_of_the_tests_and_grafana_are_not_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAT_DB", "anything")
    monkeypatch.setenv("GOVMIG_TEST_POSTGRES_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("GOVMIG_PROMETHEUS_URL", "http://prometheus:9090")
    monkeypatch.setenv("GOVMIG_DASHBOARDS_DIR", "/var/lib/grafana/dashboards")
    assert StoreSettings().state_db == "sqlite:///var/govmig.db"


def test_a_lowercase_misspelled_variable_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # pydantic-settings reads variables case-insensitively, so the check does too.
    monkeypatch.setenv("govmig_metrics_prot", "9000")
    with pytest.raises(
        SettingsError, match=r"govmig_metrics_prot \(did you mean GOVMIG_METRICS_PORT"
    ):
        MetricsSettings()


def test_an_invalid_value_names_the_option_and_its_variable_but_not_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVMIG_SASL_PLAIN_PASSWORD", "hunter2")
    monkeypatch.setenv("GOVMIG_REQUEST_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError) as raised:
        KafkaSettings()
    assert str(raised.value) == (
        "invalid kafka option 'request_timeout_s' (GOVMIG_REQUEST_TIMEOUT_S): "
        "Input should be a valid number, unable to parse string as a number"
    )


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        PlacementSettings(strategy="random", weight_vcpu=-1)
    assert str(raised.value) == (
        "invalid placement option 'strategy' (GOVMIG_PLACEMENT_STRATEGY): "
        "String should match pattern '^(spread|pack)$'; "
        "invalid placement option 'weight_vcpu' (GOVMIG_PLACEMENT_WEIGHT_VCPU): "
        "Input should be greater than or equal to 0"
    )


def test_every_variable_the_cli_reads_is_known() -> None:
    command = typer.main.get_command(app)
    read = {
        envvar
        for sub in _commands(command)
        for param in sub.params
        for envvar in ([param.envvar] if isinstance(param.envvar, str) else param.envvar or [])
        if envvar.startswith("GOVMIG_")
    }
    assert read >= CLI_VARIABLES
    assert read <= known_variables()


def _commands(command: Any) -> Iterator[Any]:
    # Any: typer ships its own copy of click, so click's types would not match.
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from _commands(sub)


def test_the_cli_reports_a_misspelled_variable_as_one_line(tmp_path: Path) -> None:
    result = govmig_process(
        "status", cwd=tmp_path, env={"GOVMIG_STAT_DB": f"sqlite:///{tmp_path}/govmig.db"}
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "error: unknown environment variable GOVMIG_STAT_DB (did you mean GOVMIG_STATE_DB?)\n",
    )


@pytest.mark.parametrize("text", ["urgent=5", "high=soon", "high=5;low=9", "high=5,"])
def test_a_malformed_downtime_budget_is_refused_by_the_settings(text: str) -> None:
    with pytest.raises(SettingsError, match="invalid worker option 'downtime_budgets'"):
        WorkerSettings(downtime_budgets=text)
    assert WorkerSettings(downtime_budgets="critical=30, low=600").warm_replication is False
