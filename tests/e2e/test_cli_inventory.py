"""``govmig inventory`` as an engineer runs it: its entry point (``tests.fixtures.cli``), real
files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from orchestrator.inventory.loader import DEFAULT_CATALOGUE
from orchestrator.inventory.plan import PLAN_MEMORY_GB, PLAN_STORAGE_GB, PLAN_VCPU
from tests.fixtures.cli import govmig as run_govmig

HEADER = "id,name,city,department,vcpu,memory_gb,storage_gb,source_city,source_site,source_host"


def govmig(*args: str) -> subprocess.CompletedProcess[str]:
    return run_govmig("inventory", *args)


def test_the_sample_catalogue_validates() -> None:
    result = govmig("validate", str(DEFAULT_CATALOGUE))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "560 systems OK"


def test_a_good_csv_validates(tmp_path: Path) -> None:
    path = tmp_path / "systems.csv"
    path.write_text(f"{HEADER}\nmm-psb-01,Police,maoming,PSB,4,8,100,maoming,DC,h1\n")
    result = govmig("validate", str(path))
    assert (result.returncode, result.stdout.strip()) == (0, "1 systems OK")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "systems.csv",
            f"{HEADER}\nsz-tax-01,Tax,shenzhen,Tax,0,8,100,shenzhen,DC,h\n"
            "bad/id,X,atlantis,Tax,2,8,100,shenzhen,DC,h\n",
            [
                "record 1 (id 'sz-tax-01'): field 'vcpu': must be greater than 0, got 0",
                "record 2 (id 'bad/id'): field 'id': must be a DNS label",
                "record 2 (id 'bad/id'): field 'city': unknown city 'atlantis'",
            ],
        ),
        ("systems.yaml", "systems: [unclosed\n", ["not valid YAML"]),
        ("systems.json", "", ["file is empty"]),
        ("systems.xml", "<systems/>", ["unsupported extension '.xml'"]),
    ],
    ids=["bad-records", "bad-yaml", "empty-json", "unsupported-extension"],
)
def test_a_bad_file_exits_2_with_one_line_per_problem(
    tmp_path: Path, name: str, content: str, expected: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = govmig("validate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.removeprefix("error: ").splitlines()
    assert len(lines) == len(expected)
    for line, wanted in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}: {wanted}"), result.stderr


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = govmig("validate", str(tmp_path / "nope.csv"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.csv'}: file not found"


def test_nodes_as_json_shows_14_nodes_and_totals_equal_to_the_plan() -> None:
    result = govmig("nodes", "--output", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert len(document["nodes"]) == 14
    assert document["nodes"][0]["node"] == "shantou"
    plan = {"vcpu": PLAN_VCPU, "memory_gb": PLAN_MEMORY_GB, "storage_gb": PLAN_STORAGE_GB}
    assert document["total"] == document["plan"] == plan


def test_nodes_as_a_table_lists_every_node_and_the_plan() -> None:
    result = govmig("nodes")
    assert result.returncode == 0, result.stderr
    for word in ("shantou", "yunfu", "汕头市", "total", "plan", "100,000", "10,000,000"):
        assert word in result.stdout
    assert "guangzhou" not in result.stdout


def test_nodes_reads_another_inventory_directory(tmp_path: Path) -> None:
    result = govmig("nodes", "--inventory", str(tmp_path))
    assert result.returncode == 2
    assert "hosts.yml: file not found" in result.stderr
