"""The demo's pure parts: which wave it picks, how progress is counted, the summary."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.demo.progress import SystemProgress, tally
from orchestrator.demo.scenario import choose_wave
from orchestrator.demo.sites import LabSites, PlatformSite, choose_sites
from orchestrator.demo.summary import summarise
from orchestrator.errors import ConfigurationError
from orchestrator.inventory import DEFAULT_CATALOGUE, load_inventory, load_systems
from orchestrator.migrations.states import SystemState
from orchestrator.store import SystemRow

INVENTORY = load_inventory()
CATALOGUE = load_systems(DEFAULT_CATALOGUE, INVENTORY)


@pytest.mark.parametrize("per_node", [1, 2, 3], ids=["one", "two", "three"])
def test_wave_takes_per_node_systems_alone_in_their_group_from_each_node_city(
    per_node: int,
) -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=per_node)

    node_cities = {node.city for node in INVENTORY.nodes.values()}
    depended_on = {dependency for system in CATALOGUE for dependency in system.depends_on}
    assert len(plan.wave) == per_node * len(INVENTORY.nodes)
    assert all(system.city in node_cities and not system.depends_on for system in plan.wave)
    # Nothing depends on them either: a group cuts over whole, so a part of one would wait.
    assert not depended_on & {system.id for system in plan.wave}
    for city in node_cities:
        assert sum(system.city == city for system in plan.wave) == per_node
    assert plan.failures == {}


def test_injected_failures_name_the_first_systems_and_the_phase() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=2, failures=2, failure_phase="cutover")

    assert plan.failures == {plan.ids[0]: "cutover", plan.ids[1]: "cutover"}


def test_tally_counts_per_node_and_column_and_finished() -> None:
    result = tally(
        [
            SystemProgress("shantou", SystemState.QUEUED),
            SystemProgress("shantou", SystemState.REPLICATING),
            SystemProgress("shantou", SystemState.COMPLETED),
            SystemProgress("yunfu", SystemState.ROLLED_BACK),
        ]
    )

    assert result.by_node["shantou"] == {"queued": 1, "replicate": 1, "done": 1}
    assert result.by_node["yunfu"] == {"undone": 1}
    assert (result.finished, result.total) == (2, 4)


def _row(system_id: str, state: SystemState) -> SystemRow:
    return SystemRow(
        id=system_id,
        record={},
        city="shantou",
        state=state,
        node="shantou",
        wave=1,
        phase=None,
        last_error=None,
        requested_by=None,
        updated_at=datetime.now(UTC),
        version=1,
    )


def test_summary_expects_completion_except_for_injected_failures() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=1, failures=1)
    failed, *others = plan.ids
    rows = [_row(failed, SystemState.ROLLED_BACK)] + [
        _row(system_id, SystemState.COMPLETED) for system_id in others
    ]

    good = summarise(rows, [], plan)
    rows[1] = _row(others[0], SystemState.FAILED)
    bad = summarise(rows, [], plan)

    assert good.as_expected
    assert good.states[SystemState.COMPLETED] == len(others)
    assert not bad.as_expected
    assert bad.unexpected == (f"{others[0]}: ended failed, expected completed",)


def test_summary_reports_systems_that_never_arrived() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=1)

    summary = summarise([], [], plan)

    assert len(summary.unexpected) == len(plan.wave)
    assert all(line.endswith("never registered") for line in summary.unexpected)


def test_summary_counts_the_systems_moved_per_node() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=1, failures=1)
    failed, *others = plan.ids
    rows = [_row(failed, SystemState.ROLLED_BACK)] + [
        _row(system_id, SystemState.COMPLETED) for system_id in others
    ]

    summary = summarise(rows, [], plan)

    assert summary.moved == {"shantou": len(others)}
    assert f"moved per node: shantou {len(others)}" in summary.lines()


def test_the_demo_takes_the_provider_asked_for_and_explains_its_choice(tmp_path: Path) -> None:
    local, why = choose_sites("local", tmp_path, INVENTORY, nodes=["shantou"])
    assert (local.provider, why) == ("local", "local provider on this machine (asked for)")
    assert local.run_args() == ["--provider", "local", "--work-root", str(tmp_path / "work")]
    with pytest.raises(ConfigurationError, match="not 'openstack'"):
        choose_sites("openstack", tmp_path, INVENTORY, nodes=["shantou"])


def test_a_wave_can_be_limited_to_some_nodes() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=2, nodes=["heyuan", "shantou"])
    assert plan.nodes == ("heyuan", "shantou")
    assert len(plan.wave) == 4
    assert {system.city for system in plan.wave} == {"heyuan", "shantou"}


def test_summary_shows_the_bytes_replicated_and_each_systems_downtime() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=1, failures=1)
    failed, first, second, *_ = plan.ids
    rows = [
        replace(_row(failed, SystemState.ROLLED_BACK), downtime_seconds=0.5),
        replace(_row(first, SystemState.COMPLETED), downtime_seconds=0.75),
        replace(_row(second, SystemState.COMPLETED), downtime_seconds=1.5),
    ]

    summary = summarise(rows, [], plan, {failed: 100, first: 2_000, second: 30_000, "x": 9})

    assert summary.bytes_replicated == 32_100  # the rolled-back system's passes moved bytes too
    assert summary.downtime_s == {first: 0.75, second: 1.5}
    lines = summary.lines()
    assert "replicated: 32,100 bytes" in lines
    assert "downtime (source stopped to healthy by name), worst 1.50 s:" in lines
    assert any(f"{first} 0.75 s" in line and f"{second} 1.50 s" in line for line in lines)


def test_a_connected_platform_adds_one_system_of_its_city_to_the_wave() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=1, failures=1, platforms=["guangzhou"])
    base = choose_wave(CATALOGUE, INVENTORY, per_node=1, failures=1)

    (onto,) = plan.platforms
    assert plan.platforms == {onto: "guangzhou"}
    assert plan.ids == [*base.ids, onto]
    system = plan.wave[-1]
    assert (system.city, system.depends_on) == ("guangzhou", ())
    assert plan.failures == base.failures


def test_summary_shows_the_platform_apart_and_expects_its_system_there() -> None:
    plan = choose_wave(CATALOGUE, INVENTORY, per_node=1, platforms=["guangzhou"])
    (onto,) = plan.platforms
    rows = [_row(system_id, SystemState.COMPLETED) for system_id in plan.ids]
    rows[-1] = replace(rows[-1], node="guangzhou")

    summary = summarise(rows, [], plan)
    rows[-1] = replace(rows[-1], node="shantou")
    elsewhere = summarise(rows, [], plan)

    assert summary.as_expected
    assert summary.moved == {"shantou": len(plan.ids) - 1}
    assert "platform guangzhou: 1 system moved" in summary.lines()
    assert elsewhere.unexpected == (f"{onto}: moved to shantou, expected platform guangzhou",)


def test_the_demo_gives_each_platform_its_lab_prefix_and_on_the_lab_its_hosts(
    tmp_path: Path,
) -> None:
    local, _ = choose_sites(
        "local", tmp_path, INVENTORY, nodes=["shantou"], platforms=["guangzhou"]
    )
    lab = LabSites(tmp_path / "lab", INVENTORY, ("shantou",), ("guangzhou",))

    assert local.platform_sites() == [PlatformSite("guangzhou", "2001:db8:100::/48")]
    assert lab.platform_sites() == [
        PlatformSite("guangzhou", "2001:db8:100::/48", ("guangzhou-1",))
    ]
    assert lab.options.platforms == ("guangzhou",)
