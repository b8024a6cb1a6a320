"""``govmig_mitogen`` lets at most ``GOVMIG_MAX_DOWN`` hosts of a run be in their downtime.

The gate's decisions, on facts and tasks written here; ``test_ssh_provider`` checks on the
lab that a real batch's cutovers are down one at a time with ``max_down=1``.
"""

from __future__ import annotations

import inspect
import time
from types import ModuleType, SimpleNamespace

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.settings import DEFAULT_MAX_DOWN
from tests.fixtures.file_modules import load_file


@pytest.fixture(scope="module")
def strategy() -> ModuleType:
    return load_file(PLAYBOOK_DIR / "strategy_plugins" / "govmig_mitogen.py")


def test_the_set_fact_of_the_contract_starts_a_downtime(strategy: ModuleType) -> None:
    fact = {strategy.DOWNTIME_STARTED: 1}
    starting = SimpleNamespace(action="ansible.builtin.set_fact", args=fact)
    other_fact = SimpleNamespace(action="set_fact", args={"ssh_switched": True})
    other_action = SimpleNamespace(action="command", args=fact)
    assert strategy.starts_downtime(starting)
    assert not strategy.starts_downtime(other_fact)
    assert not strategy.starts_downtime(other_action)


def test_a_downtime_lasts_until_the_report_has_its_downtime(strategy: ModuleType) -> None:
    started = {strategy.DOWNTIME_STARTED: "1700000000.0"}
    assert not strategy.in_downtime({})
    assert strategy.in_downtime(started)
    assert strategy.in_downtime({**started, "govmig_report": {"bytes_sent": 1}})
    assert not strategy.in_downtime({**started, "govmig_report": {"downtime_ms": 900}})


def test_the_gate_admits_in_order_what_room_is_left_and_holds_the_rest(
    strategy: ModuleType,
) -> None:
    assert strategy.gate(set(), set(), ["a", "b", "c"], 2) == ({"a", "b"}, {"c"})
    # One down and one admitted (its first task not ended): no room for more.
    assert strategy.gate({"x"}, {"y"}, ["a"], 2) == (set(), {"a"})
    assert strategy.gate({"x"}, set(), ["a", "b"], 2) == ({"a"}, {"b"})
    assert strategy.gate(set(), set(), [], 1) == (set(), set())


@pytest.mark.parametrize(
    ("given", "expected"),
    [({}, DEFAULT_MAX_DOWN), ({"GOVMIG_MAX_DOWN": "1"}, 1), ({"GOVMIG_MAX_DOWN": "12"}, 12)],
)
def test_max_down_comes_from_the_runs_environment(
    strategy: ModuleType, given: dict[str, str], expected: int
) -> None:
    assert strategy.max_down(given) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_a_max_down_that_is_no_count_from_one_is_the_default(
    strategy: ModuleType, text: str
) -> None:
    assert strategy.max_down({"GOVMIG_MAX_DOWN": text}) == DEFAULT_MAX_DOWN


def test_a_playbook_run_without_govmig_has_the_workers_default(strategy: ModuleType) -> None:
    """The strategy cannot import govmig's settings (it loads in ansible-playbook, where
    pydantic would cost every run's start), so it keeps its own copy of the default."""
    assert strategy.DEFAULT_MAX_DOWN == DEFAULT_MAX_DOWN


def test_the_free_loop_finds_the_time_module_the_strategy_swaps(strategy: ModuleType) -> None:
    """The loop calls ``time.sleep`` between its passes, looked up in its own module."""
    assert strategy.Base.run.__globals__["time"] is time
    assert "time.sleep(" in inspect.getsource(strategy.Base.run)


class Event:
    """A results' event whose wait returns ``arrives``, recording each call."""

    def __init__(self, arrives: bool) -> None:
        self.arrives = arrives
        self.calls: list[tuple[str, float | None]] = []

    def wait(self, timeout: float) -> bool:
        self.calls.append(("wait", timeout))
        return self.arrives

    def clear(self) -> None:
        self.calls.append(("clear", None))


def test_a_pause_waits_for_a_result_then_forgets_it(strategy: ModuleType) -> None:
    """The loop's pause waits on the results' event (for at most DEAD_WORKER_CHECK_S, then
    it looks for dead workers), not the seconds the loop asks; then clears it, so the
    next pause waits for the next result. It counts the pauses that waited that long."""
    arrived, none = Event(arrives=True), Event(arrives=False)
    pausing = strategy.PausingUntilAResult(arrived, lambda: True)
    pausing.sleep(0.005)
    assert arrived.calls == [("wait", strategy.DEAD_WORKER_CHECK_S), ("clear", None)]
    assert pausing.ran_out == 0
    assert pausing.monotonic is time.monotonic  # the rest of ``time`` as it is
    waited_out = strategy.PausingUntilAResult(none, lambda: True)
    waited_out.sleep(0.005)
    assert waited_out.ran_out == 1


def test_a_pause_waits_for_nothing_while_no_result_is_awaited(strategy: ModuleType) -> None:
    """No task in flight (the hosts' tasks were meta tasks, or every host is done): no
    result can end the pause, so it does not wait."""
    event = Event(arrives=False)
    pausing = strategy.PausingUntilAResult(event, lambda: False)
    pausing.sleep(0.005)
    assert event.calls == [("clear", None)]
    assert pausing.ran_out == 0


def test_a_result_arriving_or_taken_ends_the_loops_next_pause_at_once(
    strategy: ModuleType,
) -> None:
    """The free loop takes results after its pass over the hosts: the host a result frees
    gets its next task in the next pass, so a result taken ends the pause before it too."""
    results = strategy.ArrivingResults()
    pausing = strategy.PausingUntilAResult(results.ready, lambda: True)
    assert not results.ready.is_set()
    results.append("result")
    assert results.ready.is_set()
    pausing.sleep(0.005)  # returns at once, and forgets it
    assert not results.ready.is_set()
    assert results.popleft() == "result"
    assert results.ready.is_set()
    with pytest.raises(IndexError):
        results.popleft()  # as Ansible's loop expects of an empty queue


def test_a_task_is_announced_when_its_first_host_starts_it_only(strategy: ModuleType) -> None:
    sent: list[tuple[str, tuple[object, ...]]] = []
    send = strategy.AnnouncingEachTaskOnce(lambda name, *args, **_: sent.append((name, args)))
    first, second = SimpleNamespace(_uuid="1"), SimpleNamespace(_uuid="2")
    for task in (first, first, second, first):
        send("v2_playbook_on_task_start", task, is_conditional=False)
        send("v2_runner_on_start", "host", task)
    assert [name for name, _ in sent].count("v2_playbook_on_task_start") == 2
    assert [args for name, args in sent if name == "v2_playbook_on_task_start"] == [
        (first,),
        (second,),
    ]
    assert [name for name, _ in sent].count("v2_runner_on_start") == 4, "every host's own"
