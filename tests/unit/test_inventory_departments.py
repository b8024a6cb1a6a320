"""The department register: the shipped file matches the catalogue, and bad ones are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InventoryError
from orchestrator.inventory.catalogue import generate_catalogue
from orchestrator.inventory.catalogue_data import DEPARTMENTS
from orchestrator.inventory.departments import DepartmentRegister, build_register
from orchestrator.inventory.loader import DEFAULT_DEPARTMENTS, load_departments

SOURCE = "departments.yml"


def test_the_shipped_register_is_the_catalogues_departments() -> None:
    register = load_departments()
    assert dict(register.names) == {d.code: d.label for d in DEPARTMENTS}
    assert register.source == str(DEFAULT_DEPARTMENTS)


def test_every_catalogue_record_names_a_registered_department() -> None:
    register = load_departments()
    assert all(register.code_of(system.department) for system in generate_catalogue())


def test_a_label_leads_to_its_code_and_an_unknown_one_to_none() -> None:
    register = DepartmentRegister({"psb": "Public Security Bureau (公安局)"})
    assert register.code_of("Public Security Bureau (公安局)") == "psb"
    assert register.code_of("PSB") is None
    assert "psb" in register
    assert "tax" not in register


def entry(
    code: object = "psb", name: object = "Public Security Bureau (公安局)"
) -> dict[str, object]:
    return {"code": code, "name": name}


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [entry(), entry(name="Tax (税务局)")],
            [
                "department 2 (code 'psb'): field 'code': duplicate code 'psb' "
                "(first used by department 1)"
            ],
        ),
        (
            [entry(), entry(code="tax")],
            [
                "department 2 (code 'tax'): field 'name': duplicate name "
                "'Public Security Bureau (公安局)' (first used by department 1)"
            ],
        ),
        (
            [entry(code="PSB!")],
            [
                "department 1 (code 'PSB!'): field 'code': must be a lowercase slug such as "
                "'shantou', got 'PSB!'"
            ],
        ),
        (
            [{**entry(), "name_zh": "公安局"}],
            ["department 1 (code 'psb'): field 'name_zh': unknown field"],
        ),
        (
            [{"code": "psb"}, "psb"],
            [
                "department 1 (code 'psb'): field 'name': is required",
                "department 2: must be a mapping with code and name",
            ],
        ),
    ],
    ids=[
        "duplicate-code",
        "duplicate-name",
        "bad-code",
        "unknown-field",
        "missing-and-not-a-mapping",
    ],
)
def test_a_bad_register_names_the_entry_and_field(
    entries: list[object], expected: list[str]
) -> None:
    with pytest.raises(InventoryError) as caught:
        build_register({"departments": entries}, source=SOURCE)
    assert str(caught.value).splitlines() == [f"{SOURCE}: {line}" for line in expected]


@pytest.mark.parametrize(
    "document",
    [[], {"departments": []}, {"departments": [entry()], "extra": 1}, {"departments": "psb"}],
    ids=["a-list", "empty", "another-key", "not-a-list"],
)
def test_a_register_of_the_wrong_shape_is_one_problem(document: object) -> None:
    with pytest.raises(InventoryError) as caught:
        build_register(document, source=SOURCE)
    assert str(caught.value) == (
        f"{SOURCE}: must be a mapping whose only key 'departments' holds a non-empty list"
    )


def test_a_missing_register_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_departments(tmp_path / "departments.yml")
    assert str(caught.value) == f"{tmp_path / 'departments.yml'}: file not found"
