"""The province's cloud topology: 21 cities, 14 city nodes and 7 PRD platforms.

``build_inventory`` turns the parsed Ansible YAML inventory (``inventory/hosts.yml``)
into an ``Inventory``, validating each city, node and platform record and then
cross-checking them (see ``crosschecks``). Pure: the file is read by ``loader``.

The document is read the way Ansible reads it: a host's vars are its group's
``vars`` overlaid by its own (Ansible's default ``hash_behaviour=replace``), and
``ansible_*`` vars belong to Ansible, so the loader drops them. ``all.vars``
holds only the cities (Ansible would hand anything else there to every host,
platforms included, while the loader would not see it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator.inventory.crosschecks import check_inventory
from orchestrator.inventory.models import City, CityId, Node, NodeCapacity, NodeId, Platform
from orchestrator.inventory.problems import (
    Problem,
    dotted,
    from_validation_error,
    raise_problems,
    show,
)

CITIES_VAR = "govmig_cities"
NODES_GROUP = "city_nodes"
PLATFORMS_GROUP = "prd_platforms"
# Ansible reserves ``name`` as a variable, so a platform's name is ``platform_name`` in the file.
PLATFORM_NAME_VAR = "platform_name"

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class Inventory:
    """The validated cities, nodes and platforms, keyed by id, in file order. Immutable."""

    cities: Mapping[CityId, City]
    nodes: Mapping[NodeId, Node]
    platforms: Mapping[str, Platform]
    _node_by_city: Mapping[CityId, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen dataclass: wrap the mappings once so no caller can change them afterwards.
        object.__setattr__(self, "cities", MappingProxyType(dict(self.cities)))
        object.__setattr__(self, "nodes", MappingProxyType(dict(self.nodes)))
        object.__setattr__(self, "platforms", MappingProxyType(dict(self.platforms)))
        by_city = {node.city: node for node in self.nodes.values()}
        object.__setattr__(self, "_node_by_city", MappingProxyType(by_city))

    def node_for_city(self, city_id: str) -> Node | None:
        """The city node in ``city_id``, or ``None`` for a PRD city or an unknown id."""
        return self._node_by_city.get(city_id)

    def platform_for_city(self, city_id: str) -> Platform | None:
        """The self-built PRD platform in ``city_id``, if there is one."""
        return next((p for p in self.platforms.values() if p.city == city_id), None)

    def city_of(self, node_id: str) -> City:
        """The city a node stands in; ``KeyError`` for an unknown node."""
        return self.cities[self.nodes[node_id].city]

    def total_capacity(self) -> NodeCapacity:
        """The sum of the nodes' physical capacities (equal to the plan totals once loaded)."""
        nodes = self.nodes.values()
        return NodeCapacity(
            vcpu=sum(n.capacity.vcpu for n in nodes),
            memory_gb=sum(n.capacity.memory_gb for n in nodes),
            storage_gb=sum(n.capacity.storage_gb for n in nodes),
        )


def build_inventory(document: object, *, source: str) -> Inventory:
    """Validate a parsed ``hosts.yml`` document; raise ``InventoryError`` listing every problem."""
    problems: list[Problem] = []
    root = _mapping(document, "", source, problems)
    all_group = _mapping(root.get("all"), "all", source, problems)
    all_vars = _mapping(all_group.get("vars"), "all.vars", source, problems)
    children = _mapping(all_group.get("children"), "all.children", source, problems)
    problems.extend(_stray_all_vars(all_vars, source))
    raw_cities = _mapping(all_vars.get(CITIES_VAR), f"all.vars.{CITIES_VAR}", source, problems)
    cities = _records(raw_cities, City, "city", source, problems)
    nodes = _records(
        _group_hosts(children, NODES_GROUP, source, problems), Node, "host", source, problems
    )
    raw_platforms = _group_hosts(children, PLATFORMS_GROUP, source, problems)
    platforms = _records(raw_platforms, Platform, "host", source, problems)
    raise_problems(problems)
    raise_problems(check_inventory(cities, nodes, platforms, source=source))
    return Inventory(cities=cities, nodes=nodes, platforms=platforms)


def _mapping(value: object, where: str, source: str, problems: list[Problem]) -> Mapping[str, Any]:
    """``value`` if it is a mapping (``None`` counts as empty, as in Ansible), else a problem."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    problems.append(Problem(source, "must be a mapping", field=where or None))
    return {}


def _stray_all_vars(all_vars: Mapping[str, Any], source: str) -> list[Problem]:
    """``all.vars`` reach every host in Ansible but no record here, so only these belong there."""
    return [
        Problem(source, f"only {CITIES_VAR!r} and ansible_* vars belong here", "all.vars", str(key))
        for key in all_vars
        if key != CITIES_VAR and not str(key).startswith("ansible_")
    ]


def _group_hosts(
    children: Mapping[str, Any], group: str, source: str, problems: list[Problem]
) -> dict[str, dict[str, Any]]:
    """Each host of ``group`` with its effective vars: group vars overlaid by its own."""
    where = f"all.children.{group}"
    body = _mapping(children.get(group), where, source, problems)
    group_vars = _mapping(body.get("vars"), f"{where}.vars", source, problems)
    hosts = _mapping(body.get("hosts"), f"{where}.hosts", source, problems)
    return {
        str(host): {**group_vars, **_mapping(own, f"{where}.hosts.{host}", source, problems)}
        for host, own in hosts.items()
    }


def _records(
    entries: Mapping[str, Any], model: type[_M], kind: str, source: str, problems: list[Problem]
) -> dict[str, _M]:
    """Validate ``{id: vars}`` entries as ``model``, recording a problem per bad field."""
    valid: dict[str, _M] = {}
    for key, raw in entries.items():
        label = f"{kind} {show(key)}"
        if raw is not None and not isinstance(raw, Mapping):
            problems.append(Problem(source, "must be a mapping of fields", label))
            continue
        fields, misplaced = _model_fields(raw, model)
        problems.extend(Problem(source, message, label, name) for name, message in misplaced)
        try:
            record = model.model_validate({**fields, "id": key})
        except ValidationError as error:
            namer = _platform_namer if model is Platform else dotted
            problems.extend(from_validation_error(error, source=source, record=label, namer=namer))
            continue
        if not misplaced:
            valid[key] = record
    return valid


def _model_fields(raw: Any, model: type[BaseModel]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The vars that are model fields, and the vars that must not be there, with why."""
    fields = {str(k): v for k, v in dict(raw or {}).items() if not str(k).startswith("ansible_")}
    misplaced = []
    if "id" in fields:
        misplaced.append(("id", "remove it: the id is the key above it"))
    if model is Platform:
        if "name" in fields:
            misplaced.append(("name", f"write {PLATFORM_NAME_VAR!r}: Ansible reserves 'name'"))
        if PLATFORM_NAME_VAR in fields:
            fields["name"] = fields.pop(PLATFORM_NAME_VAR)
    return fields, misplaced


def _platform_namer(loc: tuple[int | str, ...]) -> str:
    return PLATFORM_NAME_VAR if loc == ("name",) else dotted(loc)
