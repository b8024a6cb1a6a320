"""promtool on the Prometheus files: the rules check, their unit tests pass, the config loads.

``promtool check metrics`` on a real scrape is in ``test_prometheus_metrics.py``,
where the endpoint is served.
"""

from __future__ import annotations

import pytest

from tests.fixtures.prometheus import REPO, RULES, promtool

pytestmark = pytest.mark.prometheus

PROMETHEUS_DIR = REPO / "metrics" / "prometheus"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))


def test_promtool_check_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize("tests", RULE_TESTS, ids=lambda path: path.name)
def test_promtool_test_rules(tests: object) -> None:
    checked = promtool("test", "rules", str(tests))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_there_are_rule_unit_tests() -> None:
    assert RULE_TESTS, f"no promtool rule tests under {PROMETHEUS_DIR / 'tests'}"


def test_the_example_configuration_loads_the_rules() -> None:
    checked = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout
