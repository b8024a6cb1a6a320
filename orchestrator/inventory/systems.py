"""Business-system records checked against the inventory and against each other.

Each record is validated as a ``BusinessSystem``; its cities must be among the
21 cities, its data class (when given the residency file's) among the classes
the residency rules name, its id unique in the file, and its ``depends_on`` must name systems of
the same file without forming a cycle. Every problem is collected and reported
in record order, so one run shows all of them: the city and dependency checks
also run on a record whose other fields are wrong. Pure: ``sources`` reads files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence

from pydantic import ValidationError

from orchestrator.inventory.graph import find_cycles
from orchestrator.inventory.models import SLUG_PATTERN, BusinessSystem, City
from orchestrator.inventory.problems import (
    FieldNamer,
    Problem,
    dotted,
    from_validation_error,
    raise_problems,
    record_label,
    show,
)

_SLUG = re.compile(SLUG_PATTERN)
Found = Iterator[tuple[int, Problem]]


def validate_systems(
    records: Sequence[object],
    cities: Mapping[str, City],
    *,
    source: str,
    namer: FieldNamer = dotted,
    data_classes: Collection[str] | None = None,
) -> list[BusinessSystem]:
    """The records as systems, in file order; ``InventoryError`` listing every problem.

    ``data_classes``: the residency rules' classes a record may name (None: not checked).
    """
    if not records:
        raise_problems([Problem(source, "contains no systems")])
    found: dict[int, list[Problem]] = defaultdict(list)
    systems: dict[str, tuple[int, BusinessSystem]] = {}
    for index, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            found[index].append(Problem(source, "must be a mapping of fields", f"record {index}"))
            continue
        label = record_label(index, record.get("id"))
        system = _validate_one(record, label, source, namer, found[index])
        found[index].extend(_city_problems(record, label, cities, source, namer))
        if data_classes is not None:
            found[index].extend(_data_class_problems(record, label, data_classes, source))
        if system is None:
            continue
        if system.id in systems:
            message = f"duplicate id {system.id!r} (first used by record {systems[system.id][0]})"
            found[index].append(Problem(source, message, label, "id"))
        else:
            systems[system.id] = (index, system)
    for index, problem in _dependency_problems(records, systems, source):
        found[index].append(problem)
    raise_problems(problem for index in sorted(found) for problem in found[index])
    return [system for _, system in systems.values()]


def _validate_one(
    record: Mapping[str, object],
    label: str,
    source: str,
    namer: FieldNamer,
    problems: list[Problem],
) -> BusinessSystem | None:
    try:
        return BusinessSystem.model_validate(record)
    except ValidationError as error:
        problems.extend(from_validation_error(error, source=source, record=label, namer=namer))
        return None


def _city_problems(
    record: Mapping[str, object],
    label: str,
    cities: Mapping[str, City],
    source: str,
    namer: FieldNamer,
) -> Iterator[Problem]:
    """Well-formed city ids that are not among the 21 cities (malformed ones fail the model)."""
    location = record.get("source")
    source_city = location.get("city") if isinstance(location, Mapping) else None
    checks = (
        (record.get("city"), "city", ("city",)),
        (source_city, "source city", ("source", "city")),
    )
    for value, what, loc in checks:
        if isinstance(value, str) and _SLUG.fullmatch(value) and value not in cities:
            yield Problem(source, f"unknown {what} {value!r}", label, namer(loc))


def _data_class_problems(
    record: Mapping[str, object], label: str, data_classes: Collection[str], source: str
) -> Iterator[Problem]:
    """A well-formed data class no residency rule names (a malformed one fails the model)."""
    value = record.get("data_class")
    if isinstance(value, str) and _SLUG.fullmatch(value) and value not in data_classes:
        known = ", ".join(sorted(data_classes)) or "none"
        message = f"no residency rule for data class {value!r} (the rules name: {known})"
        yield Problem(source, message, label, "data_class")


def _dependency_problems(
    records: Sequence[object], systems: Mapping[str, tuple[int, BusinessSystem]], source: str
) -> Found:
    """Unknown or repeated dependencies of any record, then cycles among the valid systems."""
    # A record that failed for another reason still exists: depending on it is no error here.
    known = {r["id"] for r in records if isinstance(r, Mapping) and isinstance(r.get("id"), str)}
    for index, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            continue
        targets = record.get("depends_on")
        if isinstance(targets, list | tuple):
            label = record_label(index, record.get("id"))
            for problem in _unknown_or_repeated(targets, known, label, source):
                yield index, problem
    graph = {system_id: system.depends_on for system_id, (_, system) in systems.items()}
    for cycle in find_cycles(graph):
        index, _ = systems[cycle[0]]
        message = "dependency cycle " + " -> ".join(show(part) for part in cycle)
        yield index, Problem(source, message, record_label(index, cycle[0]), "depends_on")


def _unknown_or_repeated(
    targets: Sequence[object], known: set[str], label: str, source: str
) -> Iterator[Problem]:
    seen: set[str] = set()
    for target in targets:
        if not isinstance(target, str):
            continue  # the model has reported it
        if target not in known:
            yield Problem(source, f"unknown system {show(target)}", label, "depends_on")
        elif target in seen:
            yield Problem(source, f"lists {target!r} twice", label, "depends_on")
        seen.add(target)
