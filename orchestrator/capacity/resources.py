"""``Resources``: a system's or a node's vCPU, memory and storage, as one value.

The vocabulary every layer shares for "how much": a business system's size,
what an allocation holds, what a node has free. The ledger itself keeps
amounts per resource class (``{"VCPU": 8, "MEMORY_GB": 32, ...}``, after
OpenStack Placement); ``amounts`` and ``from_amounts`` convert between the two,
so no other module spells out the three classes by hand.

Pure and immutable; memory and storage are decimal GB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ResourceClass(StrEnum):
    """What a node offers; the names follow Placement's standard classes."""

    VCPU = "VCPU"
    MEMORY_GB = "MEMORY_GB"
    STORAGE_GB = "STORAGE_GB"


# The field names events, records and JSON output use for each class (a user contract).
FIELD_NAMES: Mapping[ResourceClass, str] = {
    ResourceClass.VCPU: "vcpu",
    ResourceClass.MEMORY_GB: "memory_gb",
    ResourceClass.STORAGE_GB: "storage_gb",
}


class Sized(Protocol):
    """Anything sized in the three fields, e.g. a ``BusinessSystem`` or a node's capacity."""

    @property
    def vcpu(self) -> int: ...

    @property
    def memory_gb(self) -> int: ...

    @property
    def storage_gb(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Resources:
    """vCPU, memory and storage (decimal GB); negative only as a difference."""

    vcpu: int = 0
    memory_gb: int = 0
    storage_gb: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.vcpu + other.vcpu,
            self.memory_gb + other.memory_gb,
            self.storage_gb + other.storage_gb,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.vcpu - other.vcpu,
            self.memory_gb - other.memory_gb,
            self.storage_gb - other.storage_gb,
        )

    def __le__(self, other: Resources) -> bool:
        """Every resource is at most ``other``'s: ``request <= free`` means it fits."""
        return (
            self.vcpu <= other.vcpu
            and self.memory_gb <= other.memory_gb
            and self.storage_gb <= other.storage_gb
        )

    def fits(self, free: Resources) -> bool:
        """True when this request fits in ``free``; the same as ``self <= free``."""
        return self <= free

    def amounts(self) -> dict[str, int]:
        """The ledger's form, in the order shortfalls are reported."""
        return {
            ResourceClass.VCPU: self.vcpu,
            ResourceClass.MEMORY_GB: self.memory_gb,
            ResourceClass.STORAGE_GB: self.storage_gb,
        }

    @classmethod
    def from_amounts(cls, amounts: Mapping[str, int]) -> Resources:
        """From the ledger's form; a class it does not mention counts as 0."""
        return cls(
            int(amounts.get(ResourceClass.VCPU, 0)),
            int(amounts.get(ResourceClass.MEMORY_GB, 0)),
            int(amounts.get(ResourceClass.STORAGE_GB, 0)),
        )

    def fields(self) -> dict[str, int]:
        """The form events and JSON output use: ``{"vcpu": ..., "memory_gb": ..., ...}``."""
        return {"vcpu": self.vcpu, "memory_gb": self.memory_gb, "storage_gb": self.storage_gb}

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> Resources:
        """From a record or document keyed by field name (``vcpu``, ``memory_gb``, ...)."""
        return cls(*(_as_int(fields[name]) for name in ("vcpu", "memory_gb", "storage_gb")))

    @classmethod
    def of(cls, sized: Sized) -> Resources:
        """The size of anything with ``vcpu``, ``memory_gb`` and ``storage_gb`` fields."""
        return cls(sized.vcpu, sized.memory_gb, sized.storage_gb)


def _as_int(value: object) -> int:
    if not isinstance(value, int | str | float):
        raise TypeError(f"not an amount: {value!r}")
    return int(value)
