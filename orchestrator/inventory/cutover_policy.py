"""The cutover policy: which systems need an approval (four eyes) before they cut over.

A model with its defaults, the pure helpers the engine and the cutover gate ask
(``needs_approval``, ``approval_ttl``, ``self_approval``), and the loader of its
file (``load_cutover_policy``; the file is read by ``sources``). The file, such
as the sample ``inventory/cutover-policy.yml``, holds one entry, ``approval``::

    approval:
      criticalities: [critical, high]       # these need an approval...
      departments: [psb]                    # ... and so does every system of these
      self_approval: false                  # whoever requested a migration may not approve it
      ttl_hours: 72                         # how long an approval lives

A system needs an approval when its criticality or its department is listed.
A key left out keeps its default, and so does a policy with no file: critical
and high need an approval, no self-approval, 72 hours. The file names
departments by the codes of the department register (``inventory/departments.yml``),
like the calendar; the policy holds the names records give them. Problems name
the file, the entry and the field, an unknown department code too.

What it is not: the gate itself. The worker's cutover gate asks
``needs_approval`` and reads the live approval from the store; the engine
asks ``self_approval`` when an approval arrives.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Final

from pydantic import BaseModel, Field, ValidationError

from orchestrator.errors import InventoryError
from orchestrator.inventory.departments import DepartmentRegister, unknown_departments
from orchestrator.inventory.models import Criticality, Frozen, Label
from orchestrator.inventory.problems import Problem, from_validation_error, raise_problems, show
from orchestrator.inventory.sources import read_yaml

# An approval outliving a year approves a change nobody remembers.
MAX_TTL_HOURS: Final = 24 * 366


class ApprovalPolicy(Frozen):
    """Who needs an approval before cutover, whether one may approve oneself, for how long."""

    criticalities: frozenset[Criticality] = frozenset({Criticality.CRITICAL, Criticality.HIGH})
    departments: frozenset[Label] = frozenset()
    self_approval: Annotated[bool, Field(strict=True)] = False
    ttl_hours: Annotated[float, Field(gt=0, le=MAX_TTL_HOURS, allow_inf_nan=False)] = 72.0


class CutoverPolicy(Frozen):
    """The whole policy file; today its one entry is ``approval``."""

    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)

    def needs_approval(self, criticality: str, department: str) -> bool:
        """Whether a system of this criticality and department needs an approval to cut over."""
        rule = self.approval
        return criticality in rule.criticalities or department in rule.departments

    @property
    def approval_ttl(self) -> timedelta:
        """How long an approval lives after it is granted."""
        return timedelta(hours=self.approval.ttl_hours)

    @property
    def self_approval(self) -> bool:
        """Whether whoever requested a migration may approve its cutover too."""
        return self.approval.self_approval


_ENTRIES: Final[dict[str, type[BaseModel]]] = {"approval": ApprovalPolicy}


def load_cutover_policy(path: Path, departments: DepartmentRegister) -> CutoverPolicy:
    """The policy in the YAML file at ``path``; ``InventoryError`` lists every problem."""
    return build_cutover_policy(read_yaml(path), source=str(path), departments=departments)


def build_cutover_policy(
    document: object, *, source: str, departments: DepartmentRegister
) -> CutoverPolicy:
    """The policy in a parsed document: a mapping of entries, each checked on its own.

    The file names departments by the register's codes; the policy keeps the names
    records give them, which is what ``needs_approval`` is asked with.
    """
    if not isinstance(document, dict):
        raise InventoryError(f"{source}: must be a mapping of entries ({', '.join(_ENTRIES)})")
    problems = [
        Problem(source, f"unknown entry (known: {', '.join(_ENTRIES)})", record=_entry(name))
        for name in document
        if name not in _ENTRIES
    ]
    entries: dict[str, BaseModel] = {}
    for name, model in _ENTRIES.items():
        try:
            entries[name] = model.model_validate(document.get(name) or {})
        except ValidationError as error:
            problems += from_validation_error(error, source=source, record=_entry(name))
    rule = entries.get("approval")
    # Positions as the file wrote them (the model keeps a set); only once the entry is valid.
    codes = (document.get("approval") or {}).get("departments") or [] if rule else []
    problems += unknown_departments(
        codes, departments, source=source, record=_entry("approval"), field="departments"
    )
    raise_problems(problems)
    if isinstance(rule, ApprovalPolicy):
        names = frozenset(departments.names[code] for code in rule.departments)
        entries["approval"] = rule.model_copy(update={"departments": names})
    return CutoverPolicy.model_validate(entries)


def _entry(name: object) -> str:
    return f"entry {show(name)}"
