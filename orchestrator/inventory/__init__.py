"""Inventory: the cities, the 14 city nodes, the 7 PRD platforms and the business systems.

This is the bottom layer: plain pydantic models, the plan's totals, and the
loader for the files under ``inventory/`` (``hosts.yml``, which is also the
Ansible inventory, and business-system files in CSV, YAML or JSON). It knows
nothing of Kafka, the store or Ansible's runner.

Public entry points: ``load_inventory``, ``load_systems``, ``Inventory`` and
``generate_catalogue``; the records are in ``models`` and the totals in ``plan``.
The maintenance calendar: ``load_departments``, ``load_calendar``, ``Calendar``
and ``CalendarFacts`` (``calendar``; its file format in ``calendar_file``).
"""

from orchestrator.inventory.calendar import Calendar, CalendarFacts
from orchestrator.inventory.catalogue import generate_catalogue
from orchestrator.inventory.loader import (
    DEFAULT_CATALOGUE,
    DEFAULT_DEPARTMENTS,
    DEFAULT_INVENTORY_ROOT,
    load_calendar,
    load_departments,
    load_inventory,
    load_systems,
)
from orchestrator.inventory.topology import Inventory

__all__ = [
    "DEFAULT_CATALOGUE",
    "DEFAULT_DEPARTMENTS",
    "DEFAULT_INVENTORY_ROOT",
    "Calendar",
    "CalendarFacts",
    "Inventory",
    "generate_catalogue",
    "load_calendar",
    "load_departments",
    "load_inventory",
    "load_systems",
]
