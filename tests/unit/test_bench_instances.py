"""The instances benchmark's pure parts: rates, ratios, the table, the group check, the scrape."""

from __future__ import annotations

from typing import Any

import pytest

from bench.instances_fleet import counter_total, joined
from bench.instances_report import Round, document, markdown_table, ratio

EVENTS = "bench.events"


def a_round(instances: int, registration_s: float, request_s: float, conflicts: float) -> Round:
    return Round(
        instances=instances,
        registrations=6_000,
        registration_s=registration_s,
        requests=3_000,
        request_s=request_s,
        conflicts=conflicts,
        batch_retries=0,
    )


ROUNDS = [a_round(1, 6.0, 10.0, 0), a_round(2, 4.0, 8.0, 30), a_round(3, 3.0, 12.5, 600)]


def test_rates_and_conflicts_per_placement() -> None:
    two = ROUNDS[1]
    assert (two.registration_rate, two.request_rate) == (1_500, 375)
    assert two.conflicts_per_placement == pytest.approx(0.01)


def test_ratios_are_against_the_first_round() -> None:
    rows = document(ROUNDS)["rounds"]
    assert [row["registration_ratio"] for row in rows] == [1.0, 1.5, 2.0]
    assert [row["request_ratio"] for row in rows] == [1.0, 1.25, 0.8]
    assert ratio(5.0, 0.0) == 0.0


def test_the_table_has_one_row_per_round() -> None:
    table = markdown_table(ROUNDS).splitlines()
    assert table[0].startswith("| instances | registrations/s | ratio |")
    assert table[2:] == [
        "| 1 | 1,000 | 1.00 | 300 | 1.00 | 0.000 |",
        "| 2 | 1,500 | 1.50 | 375 | 1.25 | 0.010 |",
        "| 3 | 2,000 | 2.00 | 240 | 0.80 | 0.200 |",
    ]


def member(*topics: str) -> dict[str, Any]:
    owned = [{"topic": topic, "partitions": [0, 1]} for topic in topics]
    return {"member_id": "m", "member_assignment": {"assigned_partitions": owned}}


@pytest.mark.parametrize(
    ("described", "expected"),
    [
        ({"group_state": "Stable", "members": [member(EVENTS), member(EVENTS, "ctl")]}, True),
        ({"group_state": "PreparingRebalance", "members": [member(EVENTS)] * 2}, False),
        ({"group_state": "Stable", "members": [member(EVENTS)]}, False),
        ({"group_state": "Stable", "members": [member(EVENTS), member("ctl")]}, False),
        ({"group_state": "Empty", "members": []}, False),
    ],
)
def test_a_group_has_joined_when_stable_with_every_instance_owning_events(
    described: dict[str, Any], expected: bool
) -> None:
    assert joined(described, EVENTS, instances=2) is expected


def test_a_counter_is_summed_over_its_label_sets() -> None:
    exposition = "\n".join(
        [
            "# HELP govcloud_ledger_conflicts_total Swaps lost.",
            "# TYPE govcloud_ledger_conflicts_total counter",
            "govcloud_ledger_conflicts_total 7.0",
            "govcloud_ledger_conflicts_created 1.7e9",
            "# HELP govcloud_events_total Events.",
            "# TYPE govcloud_events_total counter",
            'govcloud_events_total{type="a",result="processed"} 3.0',
            'govcloud_events_total{type="b",result="processed"} 4.0',
            "",
        ]
    )
    assert counter_total(exposition, "govcloud_ledger_conflicts_total") == 7
    assert counter_total(exposition, "govcloud_events_total") == 7
    assert counter_total(exposition, "govcloud_absent_total") == 0
