"""Gated waves, table-tested: tallies, states, breaches, and whether a wave may start."""

from __future__ import annotations

import pytest

from orchestrator.gates import Go, Wait, WaitReason
from orchestrator.gates.waves import (
    WavePolicy,
    WaveState,
    WaveTally,
    newly_breached,
    wave_gate,
    wave_state,
)
from orchestrator.migrations import SystemState as S


def tally(wave: int, **states: int) -> WaveTally:
    return WaveTally(wave, {S(name): n for name, n in states.items()})


def test_the_share_gone_badly_leaves_cancelled_systems_out() -> None:
    wave = tally(1, completed=6, rolled_back=1, failed=1, cancelled=2)
    assert (wave.total, wave.finished, wave.went_badly) == (10, 10, 2)
    assert wave.share_bad == pytest.approx(2 / 8)
    assert wave.describe() == "2 of 10 rolled back or failed (25%)"
    assert tally(1, cancelled=3).share_bad == 0.0


@pytest.mark.parametrize(
    ("given", "halted", "state"),
    [
        (tally(1, placed=3, queued=1), False, WaveState.WAITING),
        (tally(1, placed=2, preflight=1), False, WaveState.RUNNING),
        (tally(1, ready=3), False, WaveState.RUNNING),
        (tally(1, completed=2, finalized=1, cancelled=1), False, WaveState.FINISHED),
        (tally(1, completed=1, reverting=1), False, WaveState.RUNNING),
        (tally(1, completed=1, failed=1), True, WaveState.HALTED),
    ],
)
def test_a_waves_state_follows_its_systems(
    given: WaveTally, halted: bool, state: WaveState
) -> None:
    assert wave_state(given, halted=halted) is state


def test_a_wave_is_breached_above_the_threshold_even_before_it_finishes() -> None:
    policy = WavePolicy(threshold=0.2)
    tallies = {
        1: tally(1, completed=8, rolled_back=2),  # 20%: within
        2: tally(2, cutover=5, failed=3, completed=2),  # 30%, still running: breached
        3: tally(3, placed=4),
    }
    assert newly_breached(tallies, policy, recorded=set()) == [2]
    assert newly_breached(tallies, policy, recorded={2}) == []


def test_a_threshold_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="share from 0 to 1"):
        WavePolicy(threshold=1.5)


TALLIES = {
    1: tally(1, completed=9, rolled_back=1),
    2: tally(2, completed=3, replicating=2),
    3: tally(3, placed=5),
}


@pytest.mark.parametrize(
    ("wave", "halted", "words"),
    [
        (3, set(), "wave 2 has not finished: 3 of 5 systems"),
        (3, {1}, "wave 1 is halted: 1 of 10 rolled back or failed (10%); govmig wave resume 1"),
        (2, {1}, "wave 1 is halted"),
    ],
)
def test_a_wave_waits_for_every_earlier_one(wave: int, halted: set[int], words: str) -> None:
    decided = wave_gate(wave, TALLIES, halted)
    assert isinstance(decided, Wait)
    assert decided.reason is WaitReason.WAVE
    assert words in decided.text


@pytest.mark.parametrize(("wave", "halted"), [(1, set()), (2, set()), (None, {1}), (1, {2})])
def test_a_wave_starts_once_the_earlier_ones_finished_healthy(
    wave: int | None, halted: set[int]
) -> None:
    assert isinstance(wave_gate(wave, TALLIES, halted), Go)
