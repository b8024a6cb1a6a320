"""The change policy: which systems need an approval (four eyes) before they cut over, and
which need a change reference on every request.

A model with its defaults, the pure helpers the engine and the cutover gate ask
(``needs_approval``, ``approval_ttl``, ``self_approval``, ``needs_change_ref``), and the
loader of its file (``load_cutover_policy``; the file is read by ``sources``). The file,
such as the sample ``inventory/cutover-policy.yml``, holds two entries::

    approval:
      criticalities: [critical, high]       # these need an approval...
      departments: [psb]                    # ... and so does every system of these
      self_approval: false                  # whoever requested a migration may not approve it
      ttl_hours: 72                         # how long an approval lives
    change_ref:
      criticalities: [critical]             # every request about these names its change...
      departments: []                       # ... and every request about these

A system needs an approval (a change reference) when its criticality or its
department is listed. A key left out keeps its default, and so does a policy
with no file: critical and high need an approval, no self-approval, 72 hours;
no request needs a change reference. The file names departments by the codes
of the department register (``inventory/departments.yml``), like the calendar;
the policy holds the names records give them. Problems name the file, the entry
and the field, an unknown department code too.

What it is not: the gate itself. The worker's cutover gate asks
``needs_approval`` and reads the live approval from the store; the engine
asks ``self_approval`` when an approval arrives, and ``needs_change_ref``
(through ``engine.requests.change_ref_refusal``, which the CLI asks too)
when any request arrives.
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


class SystemScope(Frozen):
    """Which systems a rule names: those of a listed criticality or a listed department."""

    criticalities: frozenset[Criticality] = frozenset()
    departments: frozenset[Label] = frozenset()

    def names(self, criticality: str, department: str) -> bool:
        """Whether a system of this criticality and department is named by the rule."""
        return criticality in self.criticalities or department in self.departments


class ApprovalPolicy(SystemScope):
    """Who needs an approval before cutover, whether one may approve oneself, for how long."""

    criticalities: frozenset[Criticality] = frozenset({Criticality.CRITICAL, Criticality.HIGH})
    self_approval: Annotated[bool, Field(strict=True)] = False
    ttl_hours: Annotated[float, Field(gt=0, le=MAX_TTL_HOURS, allow_inf_nan=False)] = 72.0


class ChangeRefPolicy(SystemScope):
    """Whose requests must each name a change (ticket): nobody's by default."""


class CutoverPolicy(Frozen):
    """The whole policy file: its entries ``approval`` and ``change_ref``."""

    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    change_ref: ChangeRefPolicy = Field(default_factory=ChangeRefPolicy)

    def needs_approval(self, criticality: str, department: str) -> bool:
        """Whether a system of this criticality and department needs an approval to cut over."""
        return self.approval.names(criticality, department)

    def needs_change_ref(self, criticality: str, department: str) -> bool:
        """Whether every request about a system of this criticality and department must name
        its change."""
        return self.change_ref.names(criticality, department)

    @property
    def approval_ttl(self) -> timedelta:
        """How long an approval lives after it is granted."""
        return timedelta(hours=self.approval.ttl_hours)

    @property
    def self_approval(self) -> bool:
        """Whether whoever requested a migration may approve its cutover too."""
        return self.approval.self_approval


_ENTRIES: Final[dict[str, type[BaseModel]]] = {
    "approval": ApprovalPolicy,
    "change_ref": ChangeRefPolicy,
}


def load_cutover_policy(path: Path, departments: DepartmentRegister) -> CutoverPolicy:
    """The policy in the YAML file at ``path``; ``InventoryError`` lists every problem."""
    return build_cutover_policy(read_yaml(path), source=str(path), departments=departments)


def build_cutover_policy(
    document: object, *, source: str, departments: DepartmentRegister
) -> CutoverPolicy:
    """The policy in a parsed document: a mapping of entries, each checked on its own.

    The file names departments by the register's codes; the policy keeps the names
    records give them, which is what ``needs_approval`` and ``needs_change_ref`` are asked
    with.
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
    for name in entries:
        # Positions as the file wrote them (the model keeps a set); only once the entry is valid.
        codes = (document.get(name) or {}).get("departments") or []
        problems += unknown_departments(
            codes, departments, source=source, record=_entry(name), field="departments"
        )
    raise_problems(problems)
    for name, rule in entries.items():
        if isinstance(rule, SystemScope):
            names = frozenset(departments.names[code] for code in rule.departments)
            entries[name] = rule.model_copy(update={"departments": names})
    return CutoverPolicy.model_validate(entries)


def _entry(name: object) -> str:
    return f"entry {show(name)}"
