"""``Resources``: the one value for vCPU, memory and storage, and its ledger form."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.capacity import ResourceClass, Resources
from orchestrator.inventory.models import NodeCapacity

R = ResourceClass


@pytest.mark.parametrize(
    ("left", "right", "total", "difference"),
    [
        (Resources(8, 32, 500), Resources(), Resources(8, 32, 500), Resources(8, 32, 500)),
        (
            Resources(8, 32, 500),
            Resources(2, 4, 100),
            Resources(10, 36, 600),
            Resources(6, 28, 400),
        ),
        (Resources(1, 1, 1), Resources(2, 2, 2), Resources(3, 3, 3), Resources(-1, -1, -1)),
    ],
    ids=["zero", "sizes", "negative-difference"],
)
def test_add_and_subtract(
    left: Resources, right: Resources, total: Resources, difference: Resources
) -> None:
    assert left + right == total
    assert left - right == difference
    assert (left + right) - right == left


@pytest.mark.parametrize(
    ("request_", "free", "fits"),
    [
        (Resources(8, 32, 500), Resources(8, 32, 500), True),
        (Resources(8, 32, 500), Resources(100, 400, 10_000), True),
        (Resources(9, 32, 500), Resources(8, 32, 500), False),
        (Resources(8, 33, 500), Resources(8, 32, 500), False),
        (Resources(8, 32, 501), Resources(8, 32, 500), False),
        (Resources(), Resources(0, 0, 0), True),
    ],
    ids=["exact", "plenty", "short-vcpu", "short-memory", "short-storage", "nothing"],
)
def test_fits_is_every_resource_at_most(request_: Resources, free: Resources, fits: bool) -> None:
    assert request_.fits(free) is fits
    assert (request_ <= free) is fits


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ({R.VCPU: 8, R.MEMORY_GB: 32, R.STORAGE_GB: 500}, Resources(8, 32, 500)),
        ({"VCPU": 4}, Resources(4, 0, 0)),
        ({}, Resources()),
    ],
    ids=["all-classes", "partial", "empty"],
)
def test_from_the_ledger_form(amounts: dict[str, int], expected: Resources) -> None:
    assert Resources.from_amounts(amounts) == expected


def test_to_the_ledger_form_keeps_the_shortfall_order() -> None:
    amounts = Resources(8, 32, 500).amounts()
    assert amounts == {"VCPU": 8, "MEMORY_GB": 32, "STORAGE_GB": 500}
    assert list(amounts) == [R.VCPU, R.MEMORY_GB, R.STORAGE_GB]
    assert Resources.from_amounts(amounts) == Resources(8, 32, 500)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"vcpu": 8, "memory_gb": 32, "storage_gb": 500, "name": "x"}, Resources(8, 32, 500)),
        ({"vcpu": "8", "memory_gb": 32.0, "storage_gb": 5}, Resources(8, 32, 5)),
    ],
    ids=["record", "loose-json"],
)
def test_from_field_names(source: dict[str, Any], expected: Resources) -> None:
    assert Resources.from_fields(source) == expected
    assert expected.fields() == {
        "vcpu": expected.vcpu,
        "memory_gb": expected.memory_gb,
        "storage_gb": expected.storage_gb,
    }


def test_of_anything_sized() -> None:
    assert Resources.of(NodeCapacity(vcpu=96, memory_gb=512, storage_gb=20_000)) == Resources(
        96, 512, 20_000
    )
