"""The domain records every other layer speaks of.

Identifiers are deliberately narrow: a system id becomes an Ansible host name,
a directory name and a Kafka key, so nothing that could be a path separator,
whitespace or a shell/Jinja metacharacter gets through.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# A DNS label: lowercase letters, digits and inner hyphens, 1 to 63 characters.
SYSTEM_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
# City and node ids are lowercase pinyin slugs, e.g. "shantou".
SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"

SystemId = Annotated[str, StringConstraints(pattern=SYSTEM_ID_PATTERN, max_length=63)]
CityId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=32)]
NodeId = CityId
# A residency data class, e.g. "personal": the key of its rule in the residency file.
DataClass = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=32)]
# Free text shown to people: bounded, single line, no control characters.
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]

MAX_VCPU = 4096
MAX_MEMORY_GB = 65_536
MAX_STORAGE_GB = 10_000_000

Vcpu = Annotated[int, Field(gt=0, le=MAX_VCPU, strict=True)]
MemoryGb = Annotated[int, Field(gt=0, le=MAX_MEMORY_GB, strict=True)]
StorageGb = Annotated[int, Field(gt=0, le=MAX_STORAGE_GB, strict=True)]

GB = 10**9  # decimal, as the plan writes its units


class Criticality(StrEnum):
    """How much a system's users notice an outage; drives wave order and alerting."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Frozen(BaseModel):
    """Base for records: immutable, and unknown fields are an error, never ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class City(Frozen):
    """One of Guangdong's 21 prefecture-level cities."""

    id: CityId
    name: Label
    name_zh: Label
    # "city_node": one of the 14 province-coordinated nodes; "prd_platform": self-built cloud.
    cloud: Annotated[str, StringConstraints(pattern=r"^(city_node|prd_platform)$")]


class NodeCapacity(Frozen):
    """A city node's physical totals (decimal GB), and how much of it may be allocated."""

    vcpu: Annotated[int, Field(gt=0)]
    memory_gb: Annotated[int, Field(gt=0)]
    storage_gb: Annotated[int, Field(gt=0)]


class Node(Frozen):
    """A province-coordinated city cloud node."""

    id: NodeId
    city: CityId
    capacity: NodeCapacity
    reserved: NodeCapacity | None = None
    allocation_ratio_vcpu: Annotated[float, Field(gt=0, le=16)] = 1.0
    allocation_ratio_memory: Annotated[float, Field(gt=0, le=4)] = 1.0
    allocation_ratio_storage: Annotated[float, Field(gt=0, le=4)] = 1.0
    ipv6_prefix: Annotated[str, StringConstraints(max_length=64)] | None = None


def canonical_ipv6_prefix(value: str) -> str:
    """``value`` as a canonical IPv6 network of /64 or shorter; ``ValueError`` otherwise.

    The playbooks append one hex group after "::" to give a system its address.
    """
    try:
        network = ipaddress.IPv6Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not an IPv6 network: {value!r} ({exc})") from exc
    if network.prefixlen > 64:
        raise ValueError(f"the node prefix must be /64 or shorter, got /{network.prefixlen}")
    return network.compressed


class Platform(Frozen):
    """One of the 7 PRD cities' self-built government clouds, to be connected."""

    id: Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=32)]
    city: CityId
    name: Label
    # Read, checked and kept for existing files, but not what counts: a platform is connected
    # by a gov.cloud.platform.connected event (govmig platform connect), kept in the state
    # store. Strict, so a quoted "yes" or "false" is an error rather than a guess.
    connected: Annotated[bool, Field(strict=True)] = False


class SourceLocation(Frozen):
    """Where a business system runs today."""

    city: CityId
    site: Label
    # A host name or address the migration reads from; never a path, never shell text.
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")]


class BusinessSystem(Frozen):
    """A municipal or provincial business system to be moved onto a city node.

    This is also the ``data`` of a ``gov.cloud.system.registered`` event.
    """

    id: SystemId
    name: Label
    city: CityId
    department: Label
    vcpu: Vcpu
    memory_gb: MemoryGb
    storage_gb: StorageGb
    source: SourceLocation
    depends_on: Annotated[tuple[SystemId, ...], Field(max_length=32)] = ()
    criticality: Criticality = Criticality.MEDIUM
    # Which residency rule keeps it where it may be (``inventory/residency.yml``); None: no rule.
    data_class: DataClass | None = None
