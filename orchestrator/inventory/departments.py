"""The department register: each department's short code and its name as records write it.

Records name their department with a free label, ``Public Security Bureau (公安局)``;
files that pick systems by department (the maintenance calendar) name it by a
short code, ``psb``, which the register ``inventory/departments.yml`` turns into
that label. ``build_register`` validates a parsed register; an unknown code
elsewhere is then an error instead of a rule that silently matches nothing.
Pure: ``loader`` reads the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated

from pydantic import StringConstraints, ValidationError

from orchestrator.errors import InventoryError
from orchestrator.inventory.models import SLUG_PATTERN, Frozen, Label
from orchestrator.inventory.problems import Problem, from_validation_error, raise_problems, show

DEPARTMENTS_KEY = "departments"


class RegisteredDepartment(Frozen):
    """One line of the register."""

    code: Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=32)]
    name: Label


@dataclass(frozen=True)
class DepartmentRegister:
    """Department names by code, in file order, and the file they came from. Immutable."""

    names: Mapping[str, str]
    source: str = "(no register)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def __contains__(self, code: object) -> bool:
        return code in self.names

    def code_of(self, name: str) -> str | None:
        """The code of the department a record names, or ``None`` if the register lacks it."""
        return next((code for code, known in self.names.items() if known == name), None)


def unknown_departments(
    codes: Sequence[object], register: DepartmentRegister, *, source: str, record: str, field: str
) -> list[Problem]:
    """A problem for each of ``codes`` the register lacks, at its position in ``field``."""
    return [
        Problem(source, f"unknown department {show(code)} (not in {register.source})", record,
                f"{field}[{position}]")
        for position, code in enumerate(codes)
        if code not in register
    ]  # fmt: skip


def build_register(document: object, *, source: str) -> DepartmentRegister:
    """Validate a parsed register; ``InventoryError`` listing every problem."""
    problems: list[Problem] = []
    valid: list[tuple[int, RegisteredDepartment]] = []
    for index, entry in enumerate(_entries(document, source), start=1):
        if not isinstance(entry, Mapping):
            problems.append(Problem(source, "must be a mapping with code and name", _label(index)))
            continue
        label = _label(index, entry.get("code"))
        try:
            valid.append((index, RegisteredDepartment.model_validate(entry)))
        except ValidationError as error:
            problems.extend(from_validation_error(error, source=source, record=label))
    problems.extend(_repeats(valid, source))
    raise_problems(problems)
    return DepartmentRegister({d.code: d.name for _, d in valid}, source)


def _entries(document: object, source: str) -> Sequence[object]:
    """The non-empty list under the only key ``departments``."""
    if isinstance(document, Mapping) and set(document) == {DEPARTMENTS_KEY}:
        entries = document[DEPARTMENTS_KEY]
        if isinstance(entries, list) and entries:
            return entries
    message = f"must be a mapping whose only key {DEPARTMENTS_KEY!r} holds a non-empty list"
    raise InventoryError(str(Problem(source, message)))


def _label(index: int, code: object = None) -> str:
    """``department 3 (code 'psb')``: 1-based, with the code when there is one."""
    return (
        f"department {index} (code {show(code)})"
        if isinstance(code, str)
        else (f"department {index}")
    )


def _repeats(valid: Sequence[tuple[int, RegisteredDepartment]], source: str) -> Iterator[Problem]:
    """A code or a name used twice: a record's label must lead to one code, and back."""
    for field in ("code", "name"):
        first: dict[str, int] = {}
        for index, department in valid:
            value = getattr(department, field)
            if value in first:
                message = (
                    f"duplicate {field} {show(value)} (first used by department {first[value]})"
                )
                yield Problem(source, message, _label(index, department.code), field)
            first.setdefault(value, index)
