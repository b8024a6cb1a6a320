"""The plan's stated totals, the yardstick every capacity figure is checked against.

Guangdong's 2020 digital-government work plan (item 三十) asks for 14 city
cloud nodes totalling 100,000 vCPU, 300 TB memory and 10 PB storage, for the
7 PRD cities' self-built clouds to be connected, and for 500 city business
systems to move onto the cloud. Units are decimal, as the plan writes them.

Pure constants: the loader checks the node data against them, the metrics
publish them as ``govcloud_plan_target_*`` and the CLI prints them.
"""

from __future__ import annotations

from typing import Final

from orchestrator.inventory.models import GB

TB: Final = 10**12
PB: Final = 10**15

PLAN_CITIES: Final = 21
PLAN_NODES: Final = 14
PLAN_PLATFORMS: Final = 7
PLAN_SYSTEMS: Final = 500

PLAN_VCPU: Final = 100_000
PLAN_MEMORY_BYTES: Final = 300 * TB
PLAN_STORAGE_BYTES: Final = 10 * PB

# The same totals in the decimal GB that node data and events use.
PLAN_MEMORY_GB: Final = PLAN_MEMORY_BYTES // GB
PLAN_STORAGE_GB: Final = PLAN_STORAGE_BYTES // GB
