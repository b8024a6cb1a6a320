"""govmig_mitogen through real ansible-runner.

No process of a run is pinned to a CPU: Mitogen's own policy pins a run's controller and
every worker to one CPU (on fewer than 4, the same one for all), so concurrent runs shared
it. Here a playbook's workers read the CPUs they may run on (``/proc/self/status`` of a
``pipe`` lookup, which inherits the worker's mask) and must find every CPU this test may use.

A task whose action only computes (``set_fact``, ``assert``, ``fail``, ``debug``) runs in
the strategy's own process, not a forked worker, with a worker's results: each host's own
block keywords, rescues, loops. Each task is announced once, not once for each host.

Each host's Mitogen interpreter keeps the code it compiles in the host user's cache
(``plugin_utils/govmig_host_code.py``): a second run's interpreter loads every module the
first compiled, rewriting no entry; a provider whose run says ``GOVMIG_HOST_CODE_CACHE=0``
(the ssh provider's inventory may) has its hosts keep nothing, and the orchestrator's own
environment does not decide it.
"""

from __future__ import annotations

import http.server
import json
import marshal
import os
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.execution import NodeTarget, SystemTarget
from orchestrator.execution.outcomes import RunResult
from orchestrator.execution.runner import PhaseRunner, kept_events
from orchestrator.execution.strategy import HOST_CODE_CACHE_ENV
from orchestrator.migrations.states import Phase
from orchestrator.providers import LocalProvider
from tests.fixtures.targets import system_target

pytestmark = pytest.mark.ansible

NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")
PLAYBOOK = """\
- name: Report the CPUs each worker may run on
  hosts: all
  gather_facts: false
  tasks:
    # A module's task runs in a worker, which templates its arguments.
    - name: Read the mask a worker's child inherits
      ansible.builtin.command:
        argv: [echo, "{{ lookup('pipe', 'grep Cpus_allowed_list /proc/self/status') }}"]
      register: mask
      changed_when: false

    - name: Report it
      ansible.builtin.set_fact:
        govmig_report:
          cpus: "{{ mask.stdout.split()[-1] }}"
"""


def cpu_list(text: str) -> set[int]:
    """The CPUs of a kernel CPU list such as ``0-1,4``."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


# Hosts a, b and c each name the next as their partner, and b fails an assert; then each
# reports what it computed and what its partner left it.
COMPUTED = """\
- name: Compute on the controller
  hosts: all
  gather_facts: false
  vars:
    partner: "{{ {'a': 'b', 'b': 'c', 'c': 'a'}[inventory_hostname] }}"
  tasks:
    - name: Note the process a compute-only task runs in
      ansible.builtin.set_fact:
        computed_in: "{{ lookup('pipe', 'echo $PPID') }}"

    # A task timeout is an alarm, which only a process's main thread receives: a worker's.
    - name: Note the process a module's task with a timeout is templated in
      ansible.builtin.command:
        argv: [echo, "{{ lookup('pipe', 'echo $PPID') }}"]
      register: worker
      changed_when: false
      timeout: 60

    - name: A block whose keyword is each host's own, and a rescue
      delegate_to: "{{ partner }}"
      block:
        - name: Leave a fact on the partner
          ansible.builtin.set_fact:
            left_by: "{{ inventory_hostname }}"
          delegate_facts: true

        - name: Refuse b
          ansible.builtin.assert:
            that: inventory_hostname != 'b'
            fail_msg: "{{ inventory_hostname }} refused"
            quiet: true
      rescue:
        - name: Keep why
          ansible.builtin.set_fact:
            rescued: "{{ ansible_failed_result.msg }}"

    - name: Add up a loop
      ansible.builtin.set_fact:
        total: "{{ total | default(0) | int + item }}"
      loop: [1, 2, 3]

# A play of its own: each host goes at its own pace, so the fact a partner leaves may come
# after a host's last task in the play that leaves it.
- name: Report once every host has had its partner's fact
  hosts: all
  gather_facts: false
  tasks:
    - name: Report
      ansible.builtin.set_fact:
        govmig_report:
          computed_in: "{{ computed_in }}"
          worker: "{{ worker.stdout }}"
          left_by: "{{ left_by }}"
          rescued: "{{ rescued | default('') }}"
          total: "{{ total }}"
"""


def run_playbook(
    tmp_path: Path,
    playbook: str,
    monkeypatch: pytest.MonkeyPatch,
    provider: LocalProvider | None = None,
) -> RunResult:
    """Run ``playbook`` as a preflight of systems a, b and c on the local provider."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # its module cache: new
    playbooks = tmp_path / "playbooks"
    # The runner asks for its provider's role.
    (playbooks / "roles" / "local").mkdir(parents=True, exist_ok=True)
    (playbooks / "preflight.yml").write_text(playbook)
    runner = PhaseRunner(
        playbook_dir=playbooks,
        artifacts_dir=tmp_path / "artifacts",
        provider=provider or LocalProvider(work_root=tmp_path / "work"),
    )
    hosts = [system_target(name, ipv6_index=i) for i, name in enumerate(("a", "b", "c"), 1)]
    result = runner.run(Phase.PREFLIGHT, [(NODE, hosts)])
    assert result.ok, result
    assert result.strategy == "govmig_mitogen"
    return result


def test_a_runs_workers_may_run_on_every_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_playbook(tmp_path, PLAYBOOK, monkeypatch)

    found = {
        outcome.system_id: cpu_list(str(outcome.report["cpus"])) for outcome in result.outcomes
    }
    assert found == dict.fromkeys(("a", "b", "c"), os.sched_getaffinity(0))


def test_compute_only_tasks_run_in_the_strategys_process_with_a_workers_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_playbook(tmp_path, COMPUTED, monkeypatch)

    reports = {outcome.system_id: outcome.report for outcome in result.outcomes}
    computed_in = {str(report["computed_in"]) for report in reports.values()}
    workers = {str(report["worker"]) for report in reports.values()}
    assert len(computed_in) == 1, "every host's set_fact ran in one process"
    assert len(workers) == 3, "each host's timed command task had a worker of its own"
    assert not computed_in & workers
    # Each host's delegate_to was its own partner, not the first host's.
    assert {name: report["left_by"] for name, report in reports.items()} == {
        "a": "c",
        "b": "a",
        "c": "b",
    }
    assert {name: report["rescued"] for name, report in reports.items()} == {
        "a": "",
        "b": "b refused",
        "c": "",
    }
    assert {str(report["total"]) for report in reports.values()} == {"6"}


def test_each_task_is_announced_once_and_each_hosts_run_of_it_has_its_own_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_playbook(tmp_path, COMPUTED, monkeypatch)

    events = kept_events(result.artifact_dir)
    announced = Counter(
        e["event_data"]["task_uuid"] for e in events if e["event"] == "playbook_on_task_start"
    )
    started = Counter(
        (e["event_data"]["task_uuid"], e["event_data"]["host"])
        for e in events
        if e["event"] == "runner_on_start"
    )
    assert announced, "the run announced its tasks"
    assert set(announced.values()) == {1}, "each task once, not once per host"
    # Every task was run by several hosts, each with its own start: the free loop had
    # announced each again for every one of them.
    hosts_per_task = Counter(task for task, _ in started)
    assert set(hosts_per_task) == set(announced)
    assert max(hosts_per_task.values()) == 3
    assert set(started.values()) == {1}


# The orchestrator's checks of the network (govmig_http here) with each host's own path,
# templated with the process the check runs in.
ASKED = """\
- name: Ask the network from the controller
  hosts: all
  gather_facts: false
  tasks:
    - name: Note the process a compute-only task runs in
      ansible.builtin.set_fact:
        computed_in: "{{ lookup('pipe', 'echo $PPID') }}"

    - name: Ask for each host's own path
      govmig_http:
        url: "http://127.0.0.1:{{ port }}/{{ inventory_hostname }}/{{ templated_in }}"
        timeout: 30
      vars:
        templated_in: "{{ lookup('pipe', 'echo $PPID') }}"
      register: asked
      failed_when: false

    - name: Report
      ansible.builtin.set_fact:
        govmig_report:
          computed_in: "{{ computed_in }}"
          status: "{{ asked.status }}"
          path: "{{ asked.json.path | default('') }}"
"""


class Together(http.server.BaseHTTPRequestHandler):
    """Answers the requests only once all three hosts' are in (else 503), host b's with 500:
    checks that ran one after another would never be in together, the run's first one
    included (the strategy's thread only loads the action's plugins for it)."""

    all_in = threading.Barrier(3, timeout=20)

    def do_GET(self) -> None:
        host = self.path.split("/")[1]
        status = 200
        try:
            self.all_in.wait()
        except threading.BrokenBarrierError:
            status = 503
        status = 500 if status == 200 and host == "b" else status
        body = json.dumps({"path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_checks_of_the_network_wait_together_on_threads_of_the_strategys_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Together)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    for shared in ("action_plugins", "plugin_utils"):  # the role's actions, and their helpers
        (playbooks / shared).symlink_to(PLAYBOOK_DIR / shared)
    try:
        port = server.server_address[1]
        result = run_playbook(tmp_path, ASKED.replace("{{ port }}", str(port)), monkeypatch)
    finally:
        server.shutdown()

    reports = {outcome.system_id: outcome.report for outcome in result.outcomes}
    # Each host asked for its own path, b's refused alone, and b's and c's were in together.
    assert {name: int(report["status"]) for name, report in reports.items()} == {
        "a": 200,
        "b": 500,
        "c": 200,
    }
    paths = {name: str(report["path"]).split("/") for name, report in reports.items()}
    assert {name: path[1] for name, path in paths.items()} == {"a": "a", "b": "b", "c": "c"}
    # Every check was templated in the strategy's own process: no worker was forked.
    computed_in = {str(report["computed_in"]) for report in reports.values()}
    assert len(computed_in) == 1
    assert {path[2] for path in paths.values()} == computed_in


# Modules run on the hosts over Mitogen (mitogen_local here, each host an interpreter of its
# own: OwnInterpreters). Each host's first command, the run's first too, marks that it
# started, then waits up to 20 s for all three marks: commands run one after another would
# never see them all (the strategy's thread only loads the plugins of the first).
# Each echoes the process it was templated in.
MEETING = """\
- name: Run modules on the hosts
  hosts: all
  gather_facts: false
  tasks:
    - name: Note the process a compute-only task runs in
      ansible.builtin.set_fact:
        computed_in: "{{ lookup('pipe', 'echo $PPID') }}"

    - name: Mark the start, wait for every host's mark
      ansible.builtin.command:
        argv:
          - sh
          - -c
          - >-
            touch "$1/$2"; for _ in $(seq 200); do
            [ "$(ls "$1" | wc -l)" -ge 3 ] && echo "$3" && exit 0; sleep 0.1; done; exit 1
          - sh
          - "{{ meeting }}"
          - "{{ inventory_hostname }}"
          - "{{ lookup('pipe', 'echo $PPID') }}"
      register: met
      changed_when: false

    - name: Copy a file to each host
      ansible.builtin.copy:
        content: "{{ inventory_hostname }} was here\\n"
        dest: "{{ meeting }}/{{ inventory_hostname }}.copied"
        mode: "0644"

    - name: Report
      ansible.builtin.set_fact:
        govmig_report:
          computed_in: "{{ computed_in }}"
          templated_in: "{{ met.stdout }}"
"""


class OwnInterpreters(LocalProvider):
    """Each host run by an interpreter of its own (a link to this one): Mitogen would run
    the hosts' modules in one, as they are one machine and one user."""

    def connection_vars(self, system: SystemTarget, node: NodeTarget) -> Mapping[str, Any]:
        own = self.work_root / f"python-{system.system_id}"
        if not own.exists():
            own.parent.mkdir(parents=True, exist_ok=True)
            own.symlink_to(self.python)
        return {**super().connection_vars(system, node), "ansible_python_interpreter": str(own)}


def test_modules_on_the_hosts_wait_together_on_threads_of_the_strategys_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    provider = OwnInterpreters(work_root=tmp_path / "work")
    playbook = MEETING.replace("{{ meeting }}", str(meeting))
    result = run_playbook(tmp_path, playbook, monkeypatch, provider)

    reports = {outcome.system_id: outcome.report for outcome in result.outcomes}
    assert set(reports) == {"a", "b", "c"}  # each met the others (the run is ok)
    # Every command was templated in the strategy's own process: no worker was forked.
    computed_in = {str(report["computed_in"]) for report in reports.values()}
    assert len(computed_in) == 1
    assert {str(report["templated_in"]) for report in reports.values()} == computed_in
    copied = {path.name: path.read_text() for path in meeting.glob("*.copied")}
    assert copied == {f"{name}.copied": f"{name} was here\n" for name in "abc"}


MODULE_TASK = """\
- name: Run a module on each host
  hosts: all
  gather_facts: false
  tasks:
    - name: Run a command
      ansible.builtin.command:
        argv: ["true"]
      changed_when: false
"""


def host_code_entries(tmp_path: Path, cache: str = "host-code") -> dict[Path, int]:
    """A code cache's entries, with their inodes: by default the hosts' (its hosts are this
    machine's user)."""
    return {
        entry: entry.stat().st_ino
        for entry in (tmp_path / "cache" / "govmig" / cache).glob("*/*")
        if not entry.name.startswith(".")
    }


def test_a_hosts_interpreter_loads_the_code_an_earlier_run_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_playbook(tmp_path, MODULE_TASK, monkeypatch)
    first = host_code_entries(tmp_path)
    kept = [marshal.loads(entry.read_bytes()) for entry in first]
    assert all(isinstance(code, CodeType) for code in kept)
    files = {code.co_filename.rsplit("site-packages/", 1)[-1] for code in kept}
    # What the interpreter imported (Mitogen's, Ansible's module_utils) and the module it ran.
    assert {
        "mitogen/parent.py",
        "ansible/module_utils/basic.py",
        "ansible/modules/command.py",
    } <= files

    run_playbook(tmp_path, MODULE_TASK, monkeypatch)
    assert host_code_entries(tmp_path) == first, "every entry loaded again, none written anew"


def test_the_controller_compiles_the_module_utils_it_scans_in_one_run_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_playbook(tmp_path, MODULE_TASK, monkeypatch)
    first = host_code_entries(tmp_path, "mitogen-scanned-code")
    kept = [marshal.loads(entry.read_bytes()) for entry in first]
    assert all(isinstance(code, CodeType) for code in kept)
    # Mitogen compiles each under its module's name, to read its imports.
    names = {code.co_filename for code in kept}
    assert {"ansible_module_ansible.legacy.command", "ansible.module_utils.basic"} <= names

    run_playbook(tmp_path, MODULE_TASK, monkeypatch)
    assert host_code_entries(tmp_path, "mitogen-scanned-code") == first


class KeepingNoCode(LocalProvider):
    """The local provider, with hosts that keep no compiled code (as the ssh provider's
    inventory may say)."""

    @property
    def run_env(self) -> Mapping[str, str]:
        return {**super().run_env, HOST_CODE_CACHE_ENV: "0"}


def test_no_code_is_kept_on_the_hosts_a_provider_says_keep_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_playbook(tmp_path, MODULE_TASK, monkeypatch, KeepingNoCode(work_root=tmp_path / "work"))

    assert (tmp_path / "cache" / "govmig" / "mitogen-modules").is_dir()  # the controller's
    assert not (tmp_path / "cache" / "govmig" / "host-code").exists()


def test_only_the_provider_says_so_not_the_orchestrators_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOST_CODE_CACHE_ENV, "0")
    run_playbook(tmp_path, MODULE_TASK, monkeypatch)

    assert host_code_entries(tmp_path)
