"""Data residency: records × rules → allowed nodes, and the rule file's problems named."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InventoryError
from orchestrator.inventory.loader import DEFAULT_RESIDENCY, load_inventory, load_systems
from orchestrator.inventory.residency import (
    Residency,
    ResidencyRules,
    build_residency,
    load_residency,
)

INVENTORY = load_inventory()
SOURCE = "residency.yml"
RULES = build_residency(
    {
        "rules": {
            "personal": {"own_city": True},
            "eastern": {"cities": ["shantou", "chaozhou"]},
            "pinned": {"nodes": ["heyuan", "meizhou"]},
            "mixed": {"own_city": True, "cities": ["shantou"], "nodes": ["yunfu"]},
            "public": {"anywhere": True},
        }
    },
    source=SOURCE,
    inventory=INVENTORY,
)


@pytest.mark.parametrize(
    ("data_class", "city", "nodes", "places"),
    [
        ("personal", "shantou", {"shantou"}, "in shantou"),
        # A PRD city has no city node: its own platform, once connected, is its own city.
        ("personal", "guangzhou", {"guangzhou"}, "in guangzhou"),
        ("eastern", "heyuan", {"shantou", "chaozhou"}, "in shantou or chaozhou"),
        ("eastern", "shantou", {"shantou", "chaozhou"}, "in shantou or chaozhou"),
        ("pinned", "shantou", {"heyuan", "meizhou"}, "on nodes heyuan or meizhou"),
        ("mixed", "heyuan", {"heyuan", "shantou", "yunfu"}, "in heyuan or shantou, or on node "
         "yunfu"),
        ("mixed", "shantou", {"shantou", "yunfu"}, "in shantou, or on node yunfu"),
        (
            "unnamed",
            "shantou",
            set(),
            "nowhere (the residency rules do not name its data class)",
        ),
    ],
)  # fmt: skip
def test_a_records_data_class_and_city_give_its_allowed_nodes(
    data_class: str, city: str, nodes: set[str], places: str
) -> None:
    assert RULES.residency_of(data_class, city) == Residency(data_class, places, frozenset(nodes))


@pytest.mark.parametrize(("data_class", "city"), [(None, "shantou"), ("public", "guangzhou")])
def test_no_data_class_or_an_anywhere_rule_restricts_nothing(
    data_class: str | None, city: str
) -> None:
    assert RULES.residency_of(data_class, city) is None


def test_without_a_file_a_named_data_class_goes_nowhere() -> None:
    assert ResidencyRules().residency_of(None, "shantou") is None
    assert ResidencyRules().residency_of("personal", "shantou") == Residency(
        "personal", "nowhere (the residency rules do not name its data class)", frozenset()
    )


def test_a_refusal_names_the_rule_the_system_and_the_node() -> None:
    residency = RULES.residency_of("personal", "shantou")
    assert residency is not None
    assert residency.refusal("shantou-psb-001", "shantou") is None
    assert residency.refusal("shantou-psb-001", "heyuan") == (
        "residency rule 'personal' keeps shantou-psb-001 in shantou; node heyuan is not allowed"
    )


def test_the_sample_file_loads() -> None:
    rules = load_residency(DEFAULT_RESIDENCY, INVENTORY)
    assert rules.data_classes == {"personal", "eastern", "public"}
    assert rules.residency_of("personal", "meizhou") == Residency(
        "personal", "in meizhou", frozenset({"meizhou"})
    )


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ({"personal": {}}, "rule 'personal': allows no place: give own_city, cities or nodes"),
        ({"personal": None}, "rule 'personal': allows no place: give own_city, cities or nodes"),
        (
            {"public": {"anywhere": True, "own_city": True}},
            "rule 'public': anywhere: true stands alone: drop own_city, cities and nodes",
        ),
        (
            {"eastern": {"cities": ["shantou", "mars"]}},
            "rule 'eastern': field 'cities[1]': unknown city 'mars'",
        ),
        (
            {"eastern": {"cities": ["guangzhou"]}},
            "rule 'eastern': field 'cities[0]': city 'guangzhou' has no city node",
        ),
        (
            {"pinned": {"nodes": ["guangzhou"]}},
            "rule 'pinned': field 'nodes[0]': unknown node 'guangzhou'",
        ),
        (
            {"personal": {"own_city": "yes"}},
            "rule 'personal': field 'own_city': must be a valid boolean, got 'yes'",
        ),
        ({"personal": {"colour": "red"}}, "rule 'personal': field 'colour': unknown field"),
        ({"Personal Data": {"own_city": True}}, "rule 'Personal Data': a data class must be a "
         "slug such as 'personal'"),
    ],
)  # fmt: skip
def test_each_problem_of_a_rule_names_the_file_the_rule_and_the_field(
    rules: object, problem: str
) -> None:
    with pytest.raises(InventoryError) as raised:
        build_residency({"rules": rules}, source=SOURCE, inventory=INVENTORY)
    assert str(raised.value) == f"{SOURCE}: {problem}"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a mapping with one entry, 'rules'"),
        ({"rules": {}, "more": 1}, "must be a mapping with one entry, 'rules'"),
        ({"rules": ["personal"]}, "'rules' must map data classes to rules"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_whole(document: object, message: str) -> None:
    with pytest.raises(InventoryError) as raised:
        build_residency(document, source=SOURCE, inventory=INVENTORY)
    assert str(raised.value) == f"{SOURCE}: {message}"


def test_a_record_naming_a_data_class_no_rule_names_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "systems.csv"
    path.write_text(
        "id,name,city,department,vcpu,memory_gb,storage_gb,source_city,source_site,"
        "source_host,data_class\n"
        "shantou-psb-001,Name,shantou,PSB,8,32,500,shantou,DC,src-a.gov.local,personal\n"
        "shantou-psb-002,Name,shantou,PSB,8,32,500,shantou,DC,src-a.gov.local,secret\n",
        encoding="utf-8",
    )
    with pytest.raises(InventoryError) as raised:
        load_systems(path, INVENTORY, RULES)
    assert str(raised.value) == (
        f"{path}: record 2 (id 'shantou-psb-002'): field 'data_class': no residency rule for "
        "data class 'secret' (the rules name: eastern, mixed, personal, pinned, public)"
    )
    first, _ = load_systems(path, INVENTORY)  # no rules given: the classes are not checked
    assert first.data_class == "personal"
