"""``bench.lab_wave``'s CPU lines, from CPU seconds written here."""

from __future__ import annotations

import os

from bench.lab_wave import cpu_lines, spread


def test_each_wave_gets_its_cpu_per_system_its_busy_cores_and_the_ratio() -> None:
    # 10 systems: (a) spends 10 + 5 CPU-s in 10 s, (b) 50 + 10 in 40 s.
    cpu = [
        {"controller": 100.0, "hosts": 20.0},
        {"controller": 110.0, "hosts": 25.0},
        {"controller": 160.0, "hosts": 35.0},
    ]
    cores = os.cpu_count()
    assert cpu_lines(cpu, 10, (10.0, 40.0)) == [
        f"(a) CPU per system: controller 1.00 s, lab hosts 0.50 s; cores busy 1.50 of {cores}",
        f"(b) CPU per system: controller 5.00 s, lab hosts 1.00 s; cores busy 1.50 of {cores}",
        "CPU ratio (b) / (a): 4.0x",
    ]


def test_a_spread_is_the_median_and_the_longest() -> None:
    assert spread([0.5, 2.0, 1.0]) == "median 1.00 s, longest 2.00 s (3 systems)"
    assert spread([]) == "none measured"
