"""The sample catalogue of business systems, for the demo and the benchmarks.

``generate_catalogue(count, seed)`` is deterministic: the same arguments always
give the same systems, so ``inventory/catalogue/systems.yaml`` (written by
``scripts/generate_catalogue.py``) can be checked against it, and ``bench/`` can
make 10,000 systems in well under a second. Systems come from all 21 cities,
mostly the 14 node cities; sizes are skewed (many small systems, a few big
ones); within one city and department, systems form small dependency groups of
2 to 5 where the members depend on a shared base (never a cycle). Pure.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

import yaml

from orchestrator.inventory.catalogue_data import (
    CITIES,
    DEPARTMENTS,
    PROVINCIAL_SITE,
    PROVINCIAL_SOURCE_CITY,
    CatalogueCity,
    Department,
)
from orchestrator.inventory.models import BusinessSystem, Criticality, SourceLocation

DEFAULT_COUNT = 560
DEFAULT_SEED = 2020  # the year of the work plan

_VCPU_SIZES = (2, 4, 8, 16, 32, 64)
_VCPU_WEIGHTS = (22, 30, 24, 14, 7, 3)
_MEMORY_PER_VCPU = (2, 4, 4, 8)
_GROUP_SIZES = (1, 2, 3, 4, 5)
_GROUP_WEIGHTS = (40, 25, 18, 10, 7)
_LEVELS = (Criticality.LOW, Criticality.MEDIUM, Criticality.HIGH, Criticality.CRITICAL)
_LEVEL_WEIGHTS = (30, 45, 19, 6)
_PHASES_ZH = "一二三四五六七八九十"
_SITES = (
    ("{city} e-government data centre", "{city_zh}电子政务数据中心"),
    ("{city} government extranet centre", "{city_zh}政务外网中心"),
    ("{city} {department} machine room", "{city_zh}{department_zh}机房"),
)


def generate_catalogue(
    count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED
) -> list[BusinessSystem]:
    """``count`` systems drawn with ``random.Random(seed)``, ordered by city and department.

    Every dependency points to an earlier system of the same list, so the list is
    also a valid migration order.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    rng = random.Random(seed)  # noqa: S311 - sample data wants repeatable, not secret
    cities = rng.choices(CITIES, weights=[c.weight for c in CITIES], k=count)
    departments = rng.choices(DEPARTMENTS, weights=[d.weight for d in DEPARTMENTS], k=count)
    tally = Counter(zip((c.id for c in cities), (d.code for d in departments), strict=True))
    systems: list[BusinessSystem] = []
    for city in CITIES:
        for department in DEPARTMENTS:
            size = tally[city.id, department.code]
            if size:
                systems.extend(_bucket(rng, city, department, size))
    return systems


def _bucket(
    rng: random.Random, city: CatalogueCity, department: Department, size: int
) -> list[BusinessSystem]:
    """One city's systems of one department, split into dependency groups."""
    ids = [f"{city.id}-{department.code}-{number:03d}" for number in range(1, size + 1)]
    depends_on: list[tuple[str, ...]] = []
    levels = [_draw_level(rng, department) for _ in ids]
    bases: set[int] = set()
    start = 0
    while start < size:
        group = rng.choices(_GROUP_SIZES, weights=_GROUP_WEIGHTS)[0]
        group = min(group, size - start)
        base = ids[start]
        depends_on.append(())
        if group > 1:
            bases.add(start)
        for member in range(start + 1, start + group):
            # Some members also need the one before them: still acyclic, as edges point back.
            chained = member > start + 1 and rng.random() < 0.3
            depends_on.append((base, ids[member - 1]) if chained else (base,))
        # What others depend on is at least as critical as they are.
        levels[start] = max(levels[start : start + group], key=_LEVELS.index)
        start += group
    return [
        _system(
            rng,
            city,
            department,
            index,
            ids[index],
            depends_on[index],
            levels[index],
            bigger=index in bases,
        )
        for index in range(size)
    ]


def _system(
    rng: random.Random,
    city: CatalogueCity,
    department: Department,
    index: int,
    system_id: str,
    depends_on: tuple[str, ...],
    criticality: Criticality,
    *,
    bigger: bool,
) -> BusinessSystem:
    kind, kind_zh = department.systems[index % len(department.systems)]
    phase = index // len(department.systems) + 1
    if phase > 1:
        numeral = _PHASES_ZH[phase - 1] if phase <= len(_PHASES_ZH) else str(phase)
        kind, kind_zh = f"{kind} phase {phase}", f"{kind_zh}{numeral}期"
    # A group's shared base (a database, an identity service) is usually the bigger system.
    vcpu, memory_gb, storage_gb = _draw_size(rng, bigger=bigger)
    return BusinessSystem(
        id=system_id,
        name=f"{city.name} {kind} ({city.name_zh}{kind_zh})",
        city=city.id,
        department=department.label,
        vcpu=vcpu,
        memory_gb=memory_gb,
        storage_gb=storage_gb,
        source=_draw_source(rng, city, department, system_id),
        depends_on=depends_on,
        criticality=criticality,
    )


def _draw_level(rng: random.Random, department: Department) -> Criticality:
    level = rng.choices(range(len(_LEVELS)), weights=_LEVEL_WEIGHTS)[0]
    if rng.random() < department.gravity * 0.15:
        level = min(level + 1, len(_LEVELS) - 1)
    return _LEVELS[level]


def _draw_size(rng: random.Random, *, bigger: bool) -> tuple[int, int, int]:
    """vCPU 2-64, memory 4-512 GB, storage 50-50,000 GB, most systems at the small end."""
    vcpu = rng.choices(_VCPU_SIZES, weights=_VCPU_WEIGHTS)[0]
    if bigger:
        vcpu = min(vcpu * 2, _VCPU_SIZES[-1])
    memory_gb = min(max(vcpu * rng.choice(_MEMORY_PER_VCPU), 4), 512)
    storage = rng.lognormvariate(math.log(400), 1.3)
    storage_gb = min(max(round(storage, -1), 50), 50_000)
    return vcpu, memory_gb, int(storage_gb)


def _draw_source(
    rng: random.Random, city: CatalogueCity, department: Department, system_id: str
) -> SourceLocation:
    host = f"src-{system_id}.gov.local"
    if city.id != PROVINCIAL_SOURCE_CITY and rng.random() < 0.06:
        return SourceLocation(city=PROVINCIAL_SOURCE_CITY, site=PROVINCIAL_SITE, host=host)
    site, site_zh = rng.choice(_SITES)
    words = {
        "city": city.name,
        "city_zh": city.name_zh,
        "department": department.name,
        "department_zh": department.name_zh,
    }
    label = f"{site.format(**words)} ({site_zh.format(**words)})"
    return SourceLocation(city=city.id, site=label, host=host)


def render_catalogue(systems: Sequence[BusinessSystem], *, count: int, seed: int) -> str:
    """The YAML text of ``inventory/catalogue/systems.yaml``, byte for byte."""
    header = (
        f"# Sample catalogue: {count} illustrative business systems of Guangdong's 21 cities,\n"
        "# for the demo and the benchmarks (not a register of real systems).\n"
        f"# Generated by `scripts/generate_catalogue.py --count {count} --seed {seed}`;\n"
        "# do not edit by hand: a unit test regenerates it and compares.\n"
    )
    # exclude_none: a system without a data class says nothing of one
    records = [system.model_dump(mode="json", exclude_none=True) for system in systems]
    # The pure-Python dumper, not libyaml's: its output is the same on every machine.
    body = yaml.dump(
        {"systems": records},
        Dumper=yaml.SafeDumper,
        allow_unicode=True,
        sort_keys=False,
        width=120,
    )
    return header + body
