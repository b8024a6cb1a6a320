"""Loading the inventory and business-system files: the package's public entry points.

``load_inventory`` reads ``inventory/hosts.yml`` (also the Ansible inventory the
playbooks use) into a cross-checked ``Inventory``. ``load_systems`` reads a file
of business-system records, such as an inventory system's export or the sample
catalogue ``inventory/catalogue/systems.yaml``, and checks it against the
inventory. Both raise ``InventoryError``; its message has one line per problem,
each naming the file, the record (1-based, with its id when known) and the field:

    inventory/systems.csv: record 7 (id 'sz-tax-01'): field 'vcpu': must be greater than 0

Business-system files, chosen by extension:

* ``.yaml`` / ``.yml`` / ``.json``: a list of records, or a mapping whose only key
  ``systems`` holds that list. Each record has the fields of ``BusinessSystem``:
  ``id``, ``name``, ``city``, ``department``, ``vcpu``, ``memory_gb``,
  ``storage_gb`` (whole numbers, decimal GB), ``source: {city, site, host}``,
  and optionally ``depends_on`` (a list of ids), ``criticality``
  (``low``, ``medium``, ``high`` or ``critical``; default ``medium``) and
  ``data_class`` (a residency rule's name, ``residency``; default none).
* ``.csv``: UTF-8, a header row, then one row per system, with the columns
  ``id,name,city,department,vcpu,memory_gb,storage_gb,source_city,source_site,
  source_host`` (required) and ``depends_on,criticality,data_class`` (optional;
  any order).
  ``depends_on`` holds ids separated by ``;``. An empty cell means "not given".

Every record is checked: its fields against the model (unknown fields are
errors), its ``city`` and ``source`` city against the 21 cities, its id for
uniqueness, and its ``depends_on`` for ids of the same file and for cycles.

``load_departments`` reads the department register (``inventory/departments.yml``)
and ``load_calendar`` a maintenance calendar checked against it (the format is in
``calendar_file``); both raise ``InventoryError`` the same way.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.data_files import INVENTORY_DIR
from orchestrator.inventory.calendar import Calendar
from orchestrator.inventory.calendar_file import build_calendar
from orchestrator.inventory.departments import DepartmentRegister, build_register
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.residency import ResidencyRules
from orchestrator.inventory.sources import read_records, read_yaml
from orchestrator.inventory.systems import validate_systems
from orchestrator.inventory.topology import Inventory, build_inventory

DEFAULT_INVENTORY_ROOT = INVENTORY_DIR
HOSTS_FILE = "hosts.yml"
DEFAULT_CATALOGUE = DEFAULT_INVENTORY_ROOT / "catalogue" / "systems.yaml"
DEFAULT_DEPARTMENTS = DEFAULT_INVENTORY_ROOT / "departments.yml"
DEFAULT_RESIDENCY = DEFAULT_INVENTORY_ROOT / "residency.yml"


def load_inventory(root: Path = DEFAULT_INVENTORY_ROOT) -> Inventory:
    """The cities, nodes and platforms of ``root/hosts.yml``, cross-checked against the plan."""
    path = root / HOSTS_FILE
    return build_inventory(read_yaml(path), source=str(path))


def load_systems(
    path: Path, inventory: Inventory, residency: ResidencyRules | None = None
) -> list[BusinessSystem]:
    """The business systems in a CSV, YAML or JSON file, in file order, all valid.

    With ``residency``, a record's data class must be one its rules name.
    """
    records = read_records(path)
    return validate_systems(
        records.records,
        inventory.cities,
        source=records.source,
        namer=records.namer,
        data_classes=None if residency is None else residency.data_classes,
    )


def load_departments(path: Path = DEFAULT_DEPARTMENTS) -> DepartmentRegister:
    """The department register (``inventory/departments.yml`` unless another file is given)."""
    return build_register(read_yaml(path), source=str(path))


def load_calendar(path: Path, departments: DepartmentRegister) -> Calendar:
    """The windows and freezes of a calendar file (no file: ``Calendar.unrestricted()``)."""
    return build_calendar(read_yaml(path), source=str(path), departments=departments)
