"""load_systems: every rejection names the file, the record and the field.

Each case writes a small business-system file into tmp_path, loads it against
the real inventory, and checks the exact location and wording of the problem.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory.csvrows import COLUMNS, systems_to_csv
from orchestrator.inventory.loader import load_inventory, load_systems
from orchestrator.inventory.models import BusinessSystem, Criticality
from orchestrator.inventory.problems import MAX_REPORTED_PROBLEMS
from orchestrator.inventory.topology import Inventory

Record = dict[str, Any]


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory()


def record(system_id: str = "shantou-psb-001", **changes: Any) -> Record:
    """A valid record; ``changes`` replace fields (``None`` removes one)."""
    base: Record = {
        "id": system_id,
        "name": "Shantou Household Registration System (汕头市户籍管理系统)",
        "city": "shantou",
        "department": "Public Security Bureau (公安局)",
        "vcpu": 8,
        "memory_gb": 32,
        "storage_gb": 500,
        "source": {"city": "shantou", "site": "Shantou DC", "host": "src-a.gov.local"},
        "depends_on": [],
        "criticality": "high",
    }
    for key, value in changes.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def write_yaml(tmp_path: Path, records: object, name: str = "systems.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(records, allow_unicode=True), encoding="utf-8")
    return path


def problem_lines(path: Path, inventory: Inventory) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_systems(path, inventory)
    return str(caught.value).splitlines()


def with_source(**fields: str) -> dict[str, str]:
    return {"city": "shantou", "site": "Shantou DC", "host": "src-a.gov.local", **fields}


# (records, record label, field, what the message says)
RECORD_CASES: list[tuple[list[Any], str, str, str]] = [
    (
        [record(city="atlantis")],
        "record 1 (id 'shantou-psb-001')",
        "city",
        "unknown city 'atlantis'",
    ),
    (
        [record(source=with_source(city="mars"))],
        "record 1 (id 'shantou-psb-001')",
        "source.city",
        "unknown source city 'mars'",
    ),
    ([record(vcpu=0)], "record 1 (id 'shantou-psb-001')", "vcpu", "must be greater than 0"),
    (
        [record(memory_gb=-4)],
        "record 1 (id 'shantou-psb-001')",
        "memory_gb",
        "must be greater than 0, got -4",
    ),
    (
        [record(storage_gb=2.5)],
        "record 1 (id 'shantou-psb-001')",
        "storage_gb",
        "must be a whole number, got 2.5",
    ),
    ([record(vcpu="8")], "record 1 (id 'shantou-psb-001')", "vcpu", "must be a whole number"),
    ([record(vcpu=True)], "record 1 (id 'shantou-psb-001')", "vcpu", "must be a whole number"),
    (
        [record(vcpu=5000)],
        "record 1 (id 'shantou-psb-001')",
        "vcpu",
        "must be less than or equal to 4096",
    ),
    (
        [record("a"), record("b"), record("a")],
        "record 3 (id 'a')",
        "id",
        "duplicate id 'a' (first used by record 1)",
    ),
    ([record("a", depends_on=["ghost"])], "record 1 (id 'a')", "depends_on", "unknown system"),
    (
        [
            record("a", depends_on=["b"]),
            record("b", depends_on=["c"]),
            record("c", depends_on=["a"]),
        ],
        "record 1 (id 'a')",
        "depends_on",
        "dependency cycle 'a' -> 'b' -> 'c' -> 'a'",
    ),
    (
        [record("a", depends_on=["a"])],
        "record 1 (id 'a')",
        "depends_on",
        "dependency cycle 'a' -> 'a'",
    ),
    (
        [record("b"), record("a", depends_on=["b", "b"])],
        "record 2 (id 'a')",
        "depends_on",
        "lists 'b' twice",
    ),
    ([record(colour="red")], "record 1 (id 'shantou-psb-001')", "colour", "unknown field"),
    ([record(name=None)], "record 1 (id 'shantou-psb-001')", "name", "is required"),
    (
        [record(source=with_source(host="a b; rm -rf /"))],
        "record 1 (id 'shantou-psb-001')",
        "source.host",
        "must be a host name or an address",
    ),
    (
        [record(name="two\nlines")],
        "record 1 (id 'shantou-psb-001')",
        "name",
        "must be one line without control characters",
    ),
    (
        [record(criticality="huge")],
        "record 1 (id 'shantou-psb-001')",
        "criticality",
        "must be 'low', 'medium', 'high' or 'critical'",
    ),
    (
        [record(depends_on=[f"d{n}" for n in range(33)])],
        "record 1 (id 'shantou-psb-001')",
        "depends_on",
        "must have at most 32 items",
    ),
    ([record("a"), "just text"], "record 2", "", "must be a mapping of fields"),
]
RECORD_IDS = [
    "unknown-city",
    "unknown-source-city",
    "zero-size",
    "negative-size",
    "fractional-size",
    "size-as-text",
    "size-as-bool",
    "size-over-limit",
    "duplicate-id",
    "unknown-dependency",
    "dependency-cycle",
    "self-dependency",
    "repeated-dependency",
    "unknown-field",
    "missing-field",
    "shell-text-in-host",
    "newline-in-name",
    "unknown-criticality",
    "too-many-dependencies",
    "record-not-a-mapping",
]


@pytest.mark.parametrize(("records", "label", "field", "message"), RECORD_CASES, ids=RECORD_IDS)
def test_a_bad_record_is_named_by_file_record_and_field(
    tmp_path: Path,
    inventory: Inventory,
    records: list[Any],
    label: str,
    field: str,
    message: str,
) -> None:
    path = write_yaml(tmp_path, {"systems": records})
    where = f"{path}: {label}: " + (f"field {field!r}: " if field else "")
    lines = problem_lines(path, inventory)
    assert any(line.startswith(where) and message in line for line in lines), lines


DNS_LABEL = "must be a DNS label"


@pytest.mark.parametrize(
    ("bad_id", "message"),
    [
        ("a/b", DNS_LABEL),
        ("has space", DNS_LABEL),
        ("{{ lookup('pipe', 'id') }}", DNS_LABEL),
        ("a;b", DNS_LABEL),
        ("UPPER", DNS_LABEL),
        ("../etc", DNS_LABEL),
        ("-lead", DNS_LABEL),
        ("", DNS_LABEL),
        ("x" * 64, "must have at most 63 characters"),
        (42, "must be a valid string"),
    ],
    ids=[
        "slash",
        "space",
        "jinja",
        "semicolon",
        "uppercase",
        "dot-dot",
        "leading-hyphen",
        "empty",
        "too-long",
        "number",
    ],
)
def test_a_malformed_id_is_rejected(
    tmp_path: Path, inventory: Inventory, bad_id: object, message: str
) -> None:
    path = write_yaml(tmp_path, [record("placeholder", id=bad_id)])
    lines = problem_lines(path, inventory)
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: record 1")
    assert f"field 'id': {message}" in lines[0]


def test_every_problem_of_every_record_is_reported_in_record_order(
    tmp_path: Path, inventory: Inventory
) -> None:
    records = [
        record("ok-1"),
        record("bad-2", vcpu=0, city="atlantis"),
        record("bad-3", depends_on=["ghost"], storage_gb=-1),
    ]
    path = write_yaml(tmp_path, records)
    assert problem_lines(path, inventory) == [
        f"{path}: record 2 (id 'bad-2'): field 'vcpu': must be greater than 0, got 0",
        f"{path}: record 2 (id 'bad-2'): field 'city': unknown city 'atlantis'",
        f"{path}: record 3 (id 'bad-3'): field 'storage_gb': must be greater than 0, got -1",
        f"{path}: record 3 (id 'bad-3'): field 'depends_on': unknown system 'ghost'",
    ]


def test_a_flood_of_problems_is_cut_short_with_a_count(
    tmp_path: Path, inventory: Inventory
) -> None:
    path = write_yaml(
        tmp_path, [record(f"s-{n}", vcpu=0) for n in range(MAX_REPORTED_PROBLEMS + 50)]
    )
    lines = problem_lines(path, inventory)
    assert len(lines) == MAX_REPORTED_PROBLEMS + 1
    assert lines[-1] == "... and 50 more problems"


def test_a_dependency_on_a_record_that_is_bad_for_another_reason_is_not_unknown(
    tmp_path: Path, inventory: Inventory
) -> None:
    path = write_yaml(tmp_path, [record("base", vcpu=0), record("user", depends_on=["base"])])
    lines = problem_lines(path, inventory)
    assert lines == [f"{path}: record 1 (id 'base'): field 'vcpu': must be greater than 0, got 0"]


CSV_HEADER = ",".join(COLUMNS)
CSV_ROW = "shantou-psb-001,Name,shantou,PSB,8,32,500,shantou,Shantou DC,src-a.gov.local,,high,"

# (CSV text, record label or "header", field, what the message says)
CSV_CASES = [
    (f"{CSV_HEADER}\n{CSV_ROW.replace(',8,', ',2.5,')}\n", "record 1 (id 'shantou-psb-001')",
     "vcpu", "must be a whole number, got '2.5'"),
    (f"{CSV_HEADER}\n{CSV_ROW.replace(',8,', ',-8,')}\n", "record 1 (id 'shantou-psb-001')",
     "vcpu", "must be greater than 0, got -8"),
    (f"{CSV_HEADER}\n{CSV_ROW.replace('shantou,Shantou DC', 'mars,Shantou DC')}\n",
     "record 1 (id 'shantou-psb-001')", "source_city", "unknown source city 'mars'"),
    (f"{CSV_HEADER}\n{CSV_ROW.replace('shantou,Shantou DC', ',Shantou DC')}\n",
     "record 1 (id 'shantou-psb-001')", "source_city", "is required"),
    (f"{CSV_HEADER}\n{CSV_ROW.replace(',,high', ',x;ghost,high')}\n",
     "record 1 (id 'shantou-psb-001')", "depends_on", "unknown system 'x'"),
    (f"{CSV_HEADER},colour\n{CSV_ROW},red\n", "header", "colour", "unknown field"),
    (f"{CSV_HEADER.replace('vcpu,', '')}\n{CSV_ROW}\n", "header", "vcpu", "missing column"),
    (f"{CSV_HEADER},id\n{CSV_ROW},x\n", "header", "id", "column appears twice"),
    (f"{CSV_HEADER}\n{CSV_ROW},extra\n", "record 1 (id 'shantou-psb-001')", "",
     "has 1 more cells than the header has columns"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "label", "field", "message"),
    CSV_CASES,
    ids=[
        "fractional-size",
        "negative-size",
        "unknown-source-city",
        "missing-source-city",
        "unknown-dependency",
        "unknown-column",
        "missing-column",
        "repeated-column",
        "extra-cells",
    ],
)
def test_a_bad_csv_row_names_the_column(
    tmp_path: Path, inventory: Inventory, text: str, label: str, field: str, message: str
) -> None:
    path = tmp_path / "systems.csv"
    path.write_text(text, encoding="utf-8")
    where = f"{path}: {label}: " + (f"field {field!r}: " if field else "")
    lines = problem_lines(path, inventory)
    assert any(line.startswith(where) and message in line for line in lines), lines


def write_bytes(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make


def make_directory(tmp_path: Path) -> Path:
    path = tmp_path / "systems.yaml"
    path.mkdir()
    return path


# (how to make the file, what the single error line says after "<path>: ")
FILE_CASES: list[tuple[Callable[[Path], Path], str]] = [
    (lambda tmp: tmp / "absent.yaml", "file not found"),
    (make_directory, "not a regular file"),
    (write_bytes("systems.txt", b"id\n"), "unsupported extension '.txt'"),
    (write_bytes("systems", b"id\n"), "unsupported extension '(none)'"),
    (write_bytes("systems.yaml", b""), "file is empty"),
    (write_bytes("systems.json", b"  \n\t\n"), "file is empty"),
    (write_bytes("systems.csv", b"\n"), "file is empty"),
    (write_bytes("systems.csv", f"{CSV_HEADER}\n".encode()), "contains no systems"),
    (write_bytes("systems.yaml", b"systems: []\n"), "contains no systems"),
    (write_bytes("systems.yaml", b"- [unclosed\n"), "not valid YAML"),
    (write_bytes("systems.yaml", b"- id: a\n  id: b\n"), "not valid YAML: duplicate key 'id'"),
    (
        write_bytes("systems.yaml", b"- id: a\n  name: 2027-02-30\n"),
        "not valid YAML: invalid date '2027-02-30': day is out of range for month "
        "(line 2, column 9)",
    ),
    (write_bytes("systems.json", b'[{"id": "a",]'), "not valid JSON"),
    (
        write_bytes("systems.yaml", b'- !!python/object/apply:os.system ["touch pwned"]\n'),
        "not valid YAML: could not determine a constructor",
    ),
    (
        write_bytes("systems.json", b'[{"id": "a", "id": "b"}]'),
        "not valid JSON: duplicate key 'id'",
    ),
    (write_bytes("systems.json", b"[" * 100_000), "not valid JSON"),
    (
        write_bytes("systems.csv", f'{CSV_HEADER}\n"unterminated,quote\n'.encode()),
        "not valid CSV",
    ),
    (write_bytes("systems.csv", b"\x89PNG\r\n\x1a\n\x00\xff"), "not UTF-8 text"),
    (write_bytes("systems.yaml", b"just a string\n"), "must be a list of systems"),
    (write_bytes("systems.json", b'{"systems": [], "more": 1}'), "must be a list of systems"),
]


@pytest.mark.parametrize(
    ("make", "message"),
    FILE_CASES,
    ids=[
        "missing",
        "directory",
        "txt-extension",
        "no-extension",
        "empty-yaml",
        "blank-json",
        "empty-csv",
        "csv-header-only",
        "yaml-no-systems",
        "invalid-yaml",
        "duplicate-yaml-key",
        "impossible-yaml-date",
        "invalid-json",
        "python-tag-in-yaml",
        "duplicate-json-key",
        "json-nested-too-deep",
        "invalid-csv",
        "binary",
        "yaml-scalar",
        "json-extra-top-level-key",
    ],
)
def test_a_bad_file_is_one_clear_error(
    tmp_path: Path, inventory: Inventory, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)
    lines = problem_lines(path, inventory)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: {message}"), lines


def sample_systems() -> list[BusinessSystem]:
    return [
        BusinessSystem.model_validate(record("base")),
        BusinessSystem.model_validate(
            record("user", depends_on=["base"], criticality="low", name='逗号, and "quotes"')
        ),
    ]


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json", ".csv", ".YAML"])
def test_a_good_file_loads_the_same_in_every_format(
    tmp_path: Path, inventory: Inventory, suffix: str
) -> None:
    systems = sample_systems()
    dumped = [s.model_dump(mode="json") for s in systems]
    path = tmp_path / f"systems{suffix}"
    if suffix == ".csv":
        path.write_text(systems_to_csv(systems), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps({"systems": dumped}, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(dumped, allow_unicode=True), encoding="utf-8")
    assert load_systems(path, inventory) == systems


def test_csv_defaults_optional_columns_and_splits_dependencies(
    tmp_path: Path, inventory: Inventory
) -> None:
    path = tmp_path / "systems.csv"
    header = "source_host,id,name,city,department,vcpu,memory_gb,storage_gb,source_city,source_site"
    rows = [
        "h1,base,Base,yunfu,PSB,2,4,50,yunfu,DC",
        "h2,mid,Mid,yunfu,PSB,2,4,50,yunfu,DC",
    ]
    path.write_text("\ufeff" + header + ",depends_on\n" + "\n".join(
        [rows[0] + ",", rows[1] + ", base ; ;"]
    ) + "\n", encoding="utf-8")  # fmt: skip
    loaded = load_systems(path, inventory)
    assert [s.id for s in loaded] == ["base", "mid"]
    assert loaded[1].depends_on == ("base",)
    assert loaded[1].criticality is Criticality.MEDIUM
    assert loaded[0].source.host == "h1"


def test_loading_does_not_mutate_the_records(tmp_path: Path, inventory: Inventory) -> None:
    records = [record("a"), record("b", depends_on=["a"])]
    before = copy.deepcopy(records)
    load_systems(write_yaml(tmp_path, records), inventory)
    assert records == before
