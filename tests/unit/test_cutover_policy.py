"""The cutover policy: who needs an approval, for how long, and its file's problems named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import build_app
from orchestrator.cli.options import cutover_policy
from orchestrator.errors import InventoryError
from orchestrator.inventory.cutover_policy import (
    CutoverPolicy,
    build_cutover_policy,
    load_cutover_policy,
)
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, load_departments

app = build_app()

PSB = "Public Security Bureau (公安局)"
TAX = "Tax Service (税务局)"
SAMPLE = DEFAULT_INVENTORY_ROOT / "cutover-policy.yml"
REGISTER = load_departments()


@pytest.mark.parametrize(
    ("criticality", "department", "needed"),
    [
        ("critical", TAX, True),
        ("high", TAX, True),
        ("medium", TAX, False),
        ("low", TAX, False),
        ("low", PSB, False),
    ],
)
def test_the_defaults_ask_critical_and_high_for_an_approval(
    criticality: str, department: str, needed: bool
) -> None:
    policy = CutoverPolicy()
    assert policy.needs_approval(criticality, department) is needed
    assert policy.approval_ttl == timedelta(hours=72)
    assert policy.self_approval is False


@pytest.mark.parametrize(
    ("criticality", "department", "needed"),
    [
        ("critical", TAX, True),
        ("high", TAX, True),
        ("medium", TAX, False),
        ("low", PSB, True),  # every system of a listed department
        ("medium", "public security bureau (公安局)", False),  # named exactly as labelled
    ],
)
def test_the_sample_file_adds_a_department(criticality: str, department: str, needed: bool) -> None:
    policy = load_cutover_policy(SAMPLE, REGISTER)
    assert policy.needs_approval(criticality, department) is needed
    assert (policy.approval_ttl, policy.self_approval) == (timedelta(hours=72), False)


def test_a_key_left_out_keeps_its_default() -> None:
    policy = build_cutover_policy(
        {"approval": {"criticalities": ["medium"], "self_approval": True, "ttl_hours": 1.5}},
        source="p.yml",
        departments=REGISTER,
    )
    assert policy.needs_approval("medium", TAX)
    assert not policy.needs_approval("critical", TAX)
    assert (policy.approval_ttl, policy.self_approval) == (timedelta(minutes=90), True)
    assert (
        build_cutover_policy({"approval": None}, source="p.yml", departments=REGISTER)
        == CutoverPolicy()
    )
    assert build_cutover_policy({}, source="p.yml", departments=REGISTER) == CutoverPolicy()


def test_every_problem_names_the_file_the_entry_and_the_field() -> None:
    document = {
        "approval": {
            "criticalities": ["high", "urgent"],
            "departments": ["a\nb"],
            "self_approval": "yes",
            "ttl_hours": 0,
            "approver": "li",
        },
        "windows": [],
    }
    with pytest.raises(InventoryError) as raised:
        build_cutover_policy(document, source="p.yml", departments=REGISTER)
    assert str(raised.value).splitlines() == [
        "p.yml: entry 'windows': unknown entry (known: approval, change_ref)",
        "p.yml: entry 'approval': field 'criticalities[1]': must be 'low', 'medium', 'high' "
        "or 'critical', got 'urgent'",
        "p.yml: entry 'approval': field 'departments[0]': must be one line without control "
        "characters, got 'a\\nb'",
        "p.yml: entry 'approval': field 'self_approval': must be a valid boolean, got 'yes'",
        "p.yml: entry 'approval': field 'ttl_hours': must be greater than 0, got 0",
        "p.yml: entry 'approval': field 'approver': unknown field",
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (["approval"], "p.yml: must be a mapping of entries (approval, change_ref)"),
        (
            {"approval": 5},
            "p.yml: entry 'approval': must be a valid dictionary or instance of ApprovalPolicy",
        ),
        (
            {"approval": {"ttl_hours": 24 * 367}},
            "p.yml: entry 'approval': field 'ttl_hours': must be less than or equal to 8784",
        ),
    ],
    ids=["not-a-mapping", "entry-not-a-mapping", "ttl-past-a-year"],
)
def test_a_malformed_document_is_refused(document: object, message: str) -> None:
    with pytest.raises(InventoryError) as raised:
        build_cutover_policy(document, source="p.yml", departments=REGISTER)
    assert str(raised.value).startswith(message)


def test_a_department_is_named_by_its_register_code() -> None:
    policy = build_cutover_policy(
        {"approval": {"departments": ["tax"]}}, source="p.yml", departments=REGISTER
    )
    assert policy.needs_approval("low", TAX)
    assert not policy.needs_approval("low", PSB)
    with pytest.raises(InventoryError) as raised:
        build_cutover_policy(
            {"approval": {"departments": ["tax", "police"]}}, source="p.yml", departments=REGISTER
        )
    assert str(raised.value) == (
        "p.yml: entry 'approval': field 'departments[1]': unknown department 'police' "
        f"(not in {REGISTER.source})"
    )


def test_the_file_is_read_like_every_inventory_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"cutover-policy\.yml: file not found"):
        load_cutover_policy(tmp_path / "cutover-policy.yml", REGISTER)
    wrong = tmp_path / "cutover-policy.txt"
    wrong.write_text("approval: {}\n")
    with pytest.raises(InventoryError, match=r"unsupported extension '\.txt'"):
        load_cutover_policy(wrong, REGISTER)
    twice = tmp_path / "twice.yml"
    twice.write_text("approval: {}\napproval: {}\n")
    with pytest.raises(InventoryError, match="duplicate key 'approval'"):
        load_cutover_policy(twice, REGISTER)


@pytest.mark.parametrize("given", ["option", "environment"])
def test_status_reads_the_file_named_by_option_or_environment(tmp_path: Path, given: str) -> None:
    bad = tmp_path / "policy.yml"
    bad.write_text("approval:\n  ttl_hours: -1\n")
    option = ["--cutover-policy", str(bad)] if given == "option" else []
    env = {"GOVMIG_CUTOVER_POLICY": str(bad)} if given == "environment" else {}
    missing_db = f"sqlite:///{tmp_path / 'none.db'}"
    result = CliRunner().invoke(app, ["status", "--state-db", missing_db, *option], env=env)
    # Refused for the policy, before the (missing) store is opened.
    assert isinstance(result.exception, InventoryError), result.output
    assert str(result.exception) == (
        f"{bad}: entry 'approval': field 'ttl_hours': must be greater than 0, got -1"
    )
    assert cutover_policy(None) == CutoverPolicy()
    assert cutover_policy(SAMPLE) == load_cutover_policy(SAMPLE, REGISTER)


@pytest.mark.parametrize(
    ("entry", "criticality", "department", "needed"),
    [
        (None, "critical", TAX, False),  # no file, no entry: no request needs one
        ({"criticalities": ["critical"]}, "critical", TAX, True),
        ({"criticalities": ["critical"]}, "high", TAX, False),
        ({"departments": ["psb"]}, "low", PSB, True),  # by the register's code
        ({"departments": ["psb"]}, "low", TAX, False),
        ({"criticalities": ["high"], "departments": ["tax"]}, "medium", TAX, True),
    ],
)
def test_the_change_ref_entry_names_whose_requests_need_a_change(
    entry: dict[str, list[str]] | None, criticality: str, department: str, needed: bool
) -> None:
    document = {} if entry is None else {"change_ref": entry}
    policy = build_cutover_policy(document, source="p.yml", departments=REGISTER)
    assert policy.needs_change_ref(criticality, department) is needed
    assert policy.approval == CutoverPolicy().approval  # the other entry keeps its defaults


def test_the_sample_file_asks_a_change_for_critical_systems() -> None:
    policy = load_cutover_policy(SAMPLE, REGISTER)
    assert policy.needs_change_ref("critical", TAX)
    assert not policy.needs_change_ref("high", PSB)


def test_a_change_ref_entry_problem_names_its_entry() -> None:
    document = {"change_ref": {"criticalities": ["urgent"], "departments": ["police"], "x": 1}}
    with pytest.raises(InventoryError) as raised:
        build_cutover_policy(document, source="p.yml", departments=REGISTER)
    assert str(raised.value).splitlines() == [
        "p.yml: entry 'change_ref': field 'criticalities[0]': must be 'low', 'medium', 'high' "
        "or 'critical', got 'urgent'",
        "p.yml: entry 'change_ref': field 'x': unknown field",
    ]
    with pytest.raises(InventoryError) as raised:
        build_cutover_policy(
            {"change_ref": {"departments": ["police"]}}, source="p.yml", departments=REGISTER
        )
    assert str(raised.value) == (
        "p.yml: entry 'change_ref': field 'departments[0]': unknown department 'police' "
        f"(not in {REGISTER.source})"
    )
