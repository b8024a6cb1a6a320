"""Data residency: where a system's data class lets it go, and the file of rules that says so.

A business-system record may carry a ``data_class`` (a short label such as
``personal``); None means no rule applies. The residency file, such as the
sample ``inventory/residency.yml``, maps each data class to the places a system
of that class may land on::

    rules:
      personal:
        description: personal data stays in the system's own city
        own_city: true                  # the node in the system's own city
      provincial:
        cities: [shaoguan, qingyuan]    # the nodes in these cities...
        nodes: [heyuan]                 # ... and these nodes
      public:
        anywhere: true                  # every node: the class is known, not restricted

A rule allows the union of what it names: ``own_city``, ``cities`` and
``nodes``; ``anywhere: true`` stands alone. A rule that allows nothing, an
unknown key, an unknown city or node id, or a listed city without a city node
is a problem; problems name the file, the rule and the field. A record whose
data class the file does not name is refused (``govmig plan`` and ``govmig
inventory validate`` report it, the intake dead-letters it as
``unknown_data_class``), so a typo never lifts a restriction.

``ResidencyRules.residency_of`` is the pure core placement asks: a record's
data class and city in, its ``Residency`` (the rule's name, the places in
words, the allowed node ids) out, or None when nothing restricts it. One
``Residency`` words every refusal, so ``govmig migrate --to`` and the engine
refuse a forbidden node with the same sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Final

from pydantic import Field, ValidationError

from orchestrator.errors import InventoryError
from orchestrator.inventory.models import SLUG_PATTERN, CityId, Frozen, Label, NodeId
from orchestrator.inventory.problems import Problem, from_validation_error, raise_problems, show
from orchestrator.inventory.sources import read_yaml
from orchestrator.inventory.topology import Inventory

_SLUG = re.compile(SLUG_PATTERN)
_NOWHERE: Final = "nowhere (the residency rules do not name its data class)"
_BAD_NAME: Final = "a data class must be a slug such as 'personal'"
_ALONE: Final = "anywhere: true stands alone: drop own_city, cities and nodes"


class ResidencyRule(Frozen):
    """One data class's allowed places, as the file writes them."""

    description: Label | None = None
    own_city: Annotated[bool, Field(strict=True)] = False
    cities: Annotated[tuple[CityId, ...], Field(max_length=64)] = ()
    nodes: Annotated[tuple[NodeId, ...], Field(max_length=64)] = ()
    anywhere: Annotated[bool, Field(strict=True)] = False


@dataclass(frozen=True, slots=True)
class Residency:
    """Where one system may land: its rule's name, those places in words, the node ids."""

    rule: str
    places: str
    nodes: frozenset[str]

    def keeps(self, system_id: str) -> str:
        """``residency rule 'personal' keeps shantou-psb-001 in shantou``."""
        return f"residency rule {self.rule!r} keeps {system_id} {self.places}"

    def refusal(self, system_id: str, node_id: str) -> str | None:
        """Why ``node_id`` is forbidden to the system, or None when the rule allows it."""
        if node_id in self.nodes:
            return None
        return f"{self.keeps(system_id)}; node {node_id} is not allowed"


@dataclass(frozen=True)
class ResidencyRules:
    """The rules of one file, checked against the inventory's cities and nodes.

    ``node_cities`` maps each city node, and each PRD platform (a target once connected),
    to its city. The default holds no rule:
    a record without a data class goes anywhere, one with a data class nowhere.
    """

    rules: Mapping[str, ResidencyRule] = field(default_factory=dict)
    node_cities: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))
        object.__setattr__(self, "node_cities", MappingProxyType(dict(self.node_cities)))

    @property
    def data_classes(self) -> frozenset[str]:
        """The data classes the file names."""
        return frozenset(self.rules)

    def residency_of(self, data_class: str | None, city: str) -> Residency | None:
        """Where a system of ``data_class`` from ``city`` may land; None: anywhere."""
        if data_class is None:
            return None
        rule = self.rules.get(data_class)
        if rule is None:  # refused at intake and in plan; a stored record still stays put
            return Residency(data_class, _NOWHERE, frozenset())
        if rule.anywhere:
            return None
        own = (city,) if rule.own_city else ()
        cities = tuple(dict.fromkeys(own + rule.cities))  # in order, the own city once
        nodes = {node for node, where in self.node_cities.items() if where in cities}
        return Residency(data_class, _places(cities, rule.nodes), frozenset(nodes | {*rule.nodes}))


def _places(cities: Sequence[str], nodes: Sequence[str]) -> str:
    """``in shantou or chaozhou, or on node heyuan``: what a rule allows, in words."""
    parts = []
    if cities:
        parts.append("in " + " or ".join(cities))
    if nodes:
        parts.append(("on nodes " if len(nodes) > 1 else "on node ") + " or ".join(nodes))
    return ", or ".join(parts)


def load_residency(path: Path, inventory: Inventory) -> ResidencyRules:
    """The rules in the YAML file at ``path``; ``InventoryError`` lists every problem."""
    return build_residency(read_yaml(path), source=str(path), inventory=inventory)


def build_residency(document: object, *, source: str, inventory: Inventory) -> ResidencyRules:
    """The rules in a parsed document: ``rules``, a mapping of data classes to rules."""
    if not isinstance(document, dict) or set(document) != {"rules"}:
        raise InventoryError(f"{source}: must be a mapping with one entry, 'rules'")
    entries = document["rules"] or {}
    if not isinstance(entries, dict):
        raise InventoryError(f"{source}: 'rules' must map data classes to rules")
    problems: list[Problem] = []
    rules: dict[str, ResidencyRule] = {}
    for name, entry in entries.items():
        label = f"rule {show(name)}"
        if not (isinstance(name, str) and _SLUG.fullmatch(name) and len(name) <= 32):
            problems.append(Problem(source, _BAD_NAME, label))
            continue
        try:
            rule = ResidencyRule.model_validate(entry or {})
        except ValidationError as error:
            problems += from_validation_error(error, source=source, record=label)
            continue
        found = list(_rule_problems(rule, inventory, source=source, record=label))
        problems += found
        if not found:
            rules[name] = rule
    raise_problems(problems)
    # A PRD platform is in its city too: own_city lets its city's systems land on it.
    node_cities = {node.id: node.city for node in inventory.nodes.values()}
    node_cities |= {platform.id: platform.city for platform in inventory.platforms.values()}
    return ResidencyRules(rules, node_cities)


def _rule_problems(
    rule: ResidencyRule, inventory: Inventory, *, source: str, record: str
) -> Iterator[Problem]:
    """A rule that allows nothing or everything and more, and ids the inventory lacks."""
    names_places = rule.own_city or rule.cities or rule.nodes
    if rule.anywhere and names_places:
        yield Problem(source, _ALONE, record)
    elif not rule.anywhere and not names_places:
        yield Problem(source, "allows no place: give own_city, cities or nodes", record)
    for index, city in enumerate(rule.cities):
        if city not in inventory.cities:
            yield Problem(source, f"unknown city {city!r}", record, f"cities[{index}]")
        elif inventory.node_for_city(city) is None:
            yield Problem(source, f"city {city!r} has no city node", record, f"cities[{index}]")
    for index, node in enumerate(rule.nodes):
        if node not in inventory.nodes:
            yield Problem(source, f"unknown node {node!r}", record, f"nodes[{index}]")
