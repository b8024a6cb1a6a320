"""govmig_mitogen's caches (playbooks/strategy_plugins/): a module Mitogen
built is served again from the cache, unchanged, until its file or package changes;
nothing else is kept, a directory others could write is not used, and another
installation's unused for a month is removed; a template's compiled code is used
again while everything it depends on is unchanged; the Jinja plugins are loaded
before the workers fork; a task's plugins are looked up once per run, not once per
host, and its module by the legacy name its action runs it by; no process is pinned
to a CPU. Real ``mitogen.master.ModuleResponder`` objects build the modules and
Ansible's own Jinja environment compiles the templates; test_executor runs the
strategy through ansible-runner."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType, SimpleNamespace
from typing import Any

import ansible.module_utils
import ansible.modules
import ansible_mitogen.module_finder as module_finder
import jinja2
import mitogen.core
import mitogen.master
import mitogen.minify
import mitogen.parent
import pytest
from ansible._internal._templating._jinja_bits import AnsibleEnvironment, _TemplateCompileContext
from ansible.plugins.loader import filter_loader, test_loader
from jinja2.utils import pass_context

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file

Build = Callable[[Any, str], tuple[Any, ...]]


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """The plugin, loaded as Ansible loads it, with its caches under ``tmp_path``; Mitogen's
    own ``_build_tuple`` and ``_get_core_source`` and Jinja's own ``compile`` are put back
    afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    responder = mitogen.master.ModuleResponder
    own, own_core = responder._build_tuple, mitogen.parent._get_core_source
    own_expression = AnsibleEnvironment.compile_expression
    # It wraps Mitogen's builds and Ansible's compile as it loads, as in ansible-playbook.
    module = load_file(PLAYBOOK_DIR / "strategy_plugins" / "govmig_mitogen.py")
    assert responder._build_tuple is not own
    assert mitogen.parent._get_core_source is not own_core
    assert "compile" in vars(AnsibleEnvironment)
    monkeypatch.setattr(responder, "_build_tuple", own)
    monkeypatch.setattr(mitogen.parent, "_get_core_source", own_core)
    try:
        yield module
    finally:
        del AnsibleEnvironment.compile  # Jinja's Environment.compile again
        AnsibleEnvironment.compile_expression = own_expression
        vars(module_finder).pop("compile", None)  # the built-in compile again
        for loader in (filter_loader, test_loader):  # their class's own lookups again
            vars(loader).pop("get_with_context", None)
            vars(loader).pop("_clear_caches", None)


class Counting:
    """Mitogen's own build, counting the modules it was asked for."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.asked: list[str] = []

    def __call__(self, responder: Any, fullname: str) -> tuple[Any, ...]:
        self.asked.append(fullname)
        return self.build(responder, fullname)


def responder() -> mitogen.master.ModuleResponder:
    """A responder as a new run's multiplexer has it: nothing built yet."""
    router = SimpleNamespace(add_handler=lambda **_: None)
    return mitogen.master.ModuleResponder(router, mitogen.core.ImportPolicy())


@dataclass(frozen=True)
class Served:
    """The plugin's cache in front of Mitogen's own build, which counts what it builds;
    ``serve`` asks it for a module as a new run's multiplexer would."""

    directory: Path
    build: Counting
    cached: Build

    def serve(self, fullname: str) -> tuple[Any, ...]:
        return self.cached(responder(), fullname)


@pytest.fixture
def served(plugin: ModuleType) -> Served:
    directory = plugin.cache_dir()
    assert directory is not None
    build = Counting(mitogen.master.ModuleResponder._build_tuple)
    return Served(directory, build, plugin.cached(build, directory))


@dataclass(frozen=True)
class Probe:
    """An importable package of one module, ``<name>.first``, under a name of its own."""

    name: str
    path: Path

    @property
    def first(self) -> str:
        return f"{self.name}.first"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    # A name no other test imported: Python and Mitogen remember where modules were.
    probe = Probe(f"govmig_probe_{uuid.uuid4().hex}", tmp_path / "site")
    (probe.path / probe.name).mkdir(parents=True)
    (probe.path / probe.name / "__init__.py").write_text("")
    (probe.path / probe.name / "first.py").write_text("ANSWER = 1\n")
    monkeypatch.syspath_prepend(str(probe.path))
    yield Probe(probe.name, probe.path / probe.name)
    for name in [n for n in sys.modules if n.startswith(probe.name)]:
        del sys.modules[name]


def test_a_module_built_once_is_served_again_from_the_cache_unchanged(served: Served) -> None:
    first = served.serve("mitogen.core")
    again = served.serve("mitogen.core")  # a later run: a new responder

    assert served.build.asked == ["mitogen.core"]
    assert again == first
    assert isinstance(again[3], mitogen.core.Blob)
    assert again == mitogen.master.ModuleResponder._build_tuple(responder(), "mitogen.core")


def test_a_changed_module_or_a_new_submodule_is_built_again(served: Served, package: Probe) -> None:
    served.serve(package.first)
    served.serve(package.name)

    (package.path / "first.py").write_text("ANSWER = 22\n")
    os.utime(package.path / "first.py", ns=(1, 1))
    (package.path / "second.py").write_text("")
    os.utime(package.path, ns=(2, 2))
    first = served.serve(package.first)
    probe = served.serve(package.name)

    assert served.build.asked == [package.first, package.name] * 2
    assert b"ANSWER = 22" in mitogen.core.zlib.decompress(first[3])
    assert sorted(probe[1]) == ["first", "second"]


def test_a_module_rewritten_to_the_same_size_and_time_is_built_again(
    served: Served, package: Probe
) -> None:
    first = package.path / "first.py"
    written = first.stat()
    served.serve(package.first)

    # The kernel stamps a file's times from a clock that ticks every few milliseconds.
    time.sleep(0.05)
    first.write_text("ANSWER = 7\n")  # same length, same file, and its time set back
    os.utime(first, ns=(written.st_atime_ns, written.st_mtime_ns))
    again = served.serve(package.first)

    assert first.stat().st_mtime_ns == written.st_mtime_ns
    assert served.build.asked == [package.first] * 2
    assert b"ANSWER = 7" in mitogen.core.zlib.decompress(again[3])


def test_only_modules_found_are_kept_and_only_under_python_names(
    plugin: ModuleType, served: Served
) -> None:
    refused = served.serve("json")  # the standard library is never served
    missing = served.serve("govmig_no_such_module")
    # A name no module has goes to Mitogen as it is, and never near the cache.
    answer: tuple[Any, ...] = ("../outside", None, str(PLAYBOOK_DIR / "ansible.cfg"), b"x", [])
    odd = plugin.cached(lambda _responder, _name: answer, served.directory)(
        responder(), "../outside"
    )

    assert refused[3] is None
    assert missing[3] is None
    assert odd is answer
    assert list(served.directory.iterdir()) == []
    assert not (served.directory.parent / "outside").exists()


def test_a_cache_directory_others_can_write_is_not_used(plugin: ModuleType) -> None:
    directory = plugin.cache_dir()
    directory.chmod(0o777)
    assert plugin.cache_dir() is None
    directory.chmod(0o700)
    assert plugin.cache_dir() == directory
    if os.geteuid() == 0:  # as root, a directory of another user's
        os.chown(directory, 65534, 65534)
        assert plugin.cache_dir() is None


class CountingCore:
    """Mitogen's own minifying of ``mitogen.core``, counting the times it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self) -> str:
        self.asked += 1
        source: str = mitogen.master._get_core_source()
        return source


def test_the_minified_core_is_made_once_and_served_again_unchanged(
    plugin: ModuleType, tmp_path: Path
) -> None:
    directory = plugin.cache_dir()
    sources = (mitogen.core.__file__, mitogen.minify.__file__)
    build = CountingCore()

    first = plugin.cached_core_source(build, directory, sources)()
    # A later run: a new multiplexer, the same cache.
    again = plugin.cached_core_source(build, directory, sources)()

    assert first == again == mitogen.master._get_core_source()
    assert build.asked == 1


def test_the_core_is_minified_again_when_a_source_changes_or_its_entry_is_damaged(
    plugin: ModuleType, tmp_path: Path
) -> None:
    directory = plugin.cache_dir()
    minifier = tmp_path / "minify.py"
    minifier.write_text("# one\n")
    sources = (mitogen.core.__file__, str(minifier))
    build = CountingCore()
    core_source = plugin.cached_core_source(build, directory, sources)

    core_source()
    minifier.write_text("# two, longer\n")
    core_source()
    (directory / plugin.CORE_SOURCE).write_bytes(b"not marshal")
    made = core_source()
    minifier.unlink()  # a source gone: made, never kept
    core_source()
    core_source()

    assert build.asked == 5
    assert made == mitogen.master._get_core_source()


@pytest.mark.parametrize("kind", ["mitogen-modules", "jinja-code"])
def test_another_installations_cache_unused_for_a_month_is_removed(
    plugin: ModuleType, tmp_path: Path, kind: str
) -> None:
    kind_dir = tmp_path / "cache" / "govmig" / kind
    month_ago = time.time() - plugin.govmig_host_code.STALE_S - 3600

    def made(name: str, *, mode: int = 0o700, age: float = month_ago) -> Path:
        path = kind_dir / name
        path.mkdir(parents=True, mode=mode)
        (path / "entry").write_bytes(b"x")
        path.chmod(mode)
        os.utime(path, (age, age))
        return path

    stale, recent = made("stale"), made("recent", age=time.time() - 86400)
    made("shared", mode=0o777)
    elsewhere = made("../../elsewhere")
    (kind_dir / "link").symlink_to(elsewhere)
    (kind_dir / "stray").write_bytes(b"")
    os.utime(kind_dir / "stray", (month_ago, month_ago))

    directory = plugin.cache_dir(kind)

    assert directory is not None
    assert directory.parent == kind_dir
    # Only our own private directory unused for a month goes: not one used lately, nor
    # one others can write, nor what a link points at, nor a file.
    assert not stale.exists()
    assert sorted(p.name for p in kind_dir.iterdir()) == sorted(
        [directory.name, "recent", "shared", "link", "stray"]
    )
    assert (elsewhere / "entry").exists()
    assert (recent / "entry").exists()
    # Opening it marks it used, so another installation's run leaves it alone.
    assert time.time() - directory.stat().st_mtime < 60


def test_the_scan_of_a_modules_imports_compiles_each_source_once_and_finds_the_same(
    plugin: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert vars(module_finder)["compile"] is not builtins.compile  # installed as it loads
    vars(module_finder).pop("compile")
    name, path = "ansible.modules.stat", str(Path(ansible.modules.__file__).parent / "stat.py")
    search_path = tuple(ansible.module_utils.__path__)
    found = module_finder.scan(name, path, search_path)  # with the built-in compile
    assert "ansible.module_utils.basic" in [fullname for fullname, _, _ in found]

    compiled: list[str] = []
    real = builtins.compile

    def counting(source: Any, filename: str, *rest: Any) -> Any:
        compiled.append(filename)
        return real(source, filename, *rest)

    monkeypatch.setattr(builtins, "compile", counting)
    (tmp_path / "code").mkdir()
    scanning = plugin.scanning_compile(tmp_path / "code")
    monkeypatch.setattr(builtins, "compile", real)
    module_finder.compile = scanning  # the fixture removes it

    assert module_finder.scan(name, path, search_path) == found
    assert sorted(compiled) == sorted([name, *(fullname for fullname, _, _ in found)])
    assert module_finder.scan(name, path, search_path) == found  # a later run's scan
    assert len(compiled) == len(found) + 1


def test_a_damaged_entry_is_built_again(served: Served) -> None:
    served.serve("mitogen.core")
    (served.directory / "mitogen.core").write_bytes(b"not marshal")

    rebuilt = served.serve("mitogen.core")

    assert served.build.asked == ["mitogen.core", "mitogen.core"]
    assert rebuilt == mitogen.master.ModuleResponder._build_tuple(responder(), "mitogen.core")


def test_a_cache_cleared_while_a_run_serves_modules_is_only_missed(served: Served) -> None:
    shutil.rmtree(served.directory)

    module = served.serve("mitogen.core")

    assert module == mitogen.master.ModuleResponder._build_tuple(responder(), "mitogen.core")
    assert not served.directory.exists()


def test_a_tasks_plugins_are_looked_up_once_and_every_host_is_queued(
    plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    queued: list[tuple[str, str]] = []
    # Mitogen's loaders and Ansible's linear strategy, as the plugin imported them.
    monkeypatch.setattr(
        plugin.ansible_mitogen.loaders.module_loader,
        "find_plugin",
        lambda name, mod_type: looked_up.append(name),
    )
    monkeypatch.setattr(
        plugin.Base,
        "_queue_task",
        lambda self, host, task, task_vars, play_context: queued.append((host, task.action)),
    )
    strategy = object.__new__(plugin.StrategyModule)  # no run to take part in
    strategy._warmed = set()
    strategy._threads = []
    winrm = SimpleNamespace(connection="winrm")  # not Mitogen's: a worker for each task
    for action in ("ansible.builtin.copy", "ansible.builtin.command"):
        for host in ("a", "b", "c"):
            strategy._queue_task(host, task(action), {}, winrm)

    # Each by its legacy name too, as the action plugins run their modules.
    assert looked_up == [
        "ansible.legacy.copy",
        "ansible.builtin.copy",
        "ansible.legacy.command",
        "ansible.builtin.command",
    ]
    assert [host for host, _ in queued] == ["a", "b", "c"] * 2


def task(
    action: str,
    until: list[str] | None = None,
    pause: float = 0,
    timeout: int = 0,
    throttle: int = 0,
    async_val: int = 0,
) -> SimpleNamespace:
    """A task's attributes as the strategy reads them."""
    return SimpleNamespace(
        action=action,
        until=until,
        timeout=timeout,
        throttle=throttle,
        async_val=async_val,
        loop_control=SimpleNamespace(pause=pause),
    )


def test_a_task_that_only_computes_runs_in_the_strategys_process_unless_it_waits(
    plugin: ModuleType,
) -> None:
    for action in ("ansible.builtin.set_fact", "assert", "ansible.legacy.fail", "debug"):
        assert plugin.runs_in_process(task(action)), action
    assert plugin.runs_in_process(
        SimpleNamespace(action="set_fact", until=[], timeout=0, loop_control=None)
    )
    assert not plugin.runs_in_process(task("ansible.builtin.command"))
    assert not plugin.runs_in_process(task("ansible.builtin.copy"))
    assert not plugin.runs_in_process(task("set_fact", until=["done"]))
    assert not plugin.runs_in_process(task("ansible.builtin.debug", pause=1))
    assert not plugin.runs_in_process(task("ansible.builtin.assert", timeout=30))


def test_a_task_that_waits_runs_on_a_thread_unless_timed_out_by_alarm_throttled_or_async(
    plugin: ModuleType,
) -> None:
    for action in ("govmig_http", "govmig_resolve", "ansible.legacy.govmig_reach"):
        assert plugin.runs_on_thread(task(action), "ssh"), action
        assert plugin.runs_on_thread(task(action), "winrm"), action  # asked from here
    assert plugin.runs_on_thread(task("govmig_nsupdate", until=["done"]), "ssh")
    # A module run on the host over a connection Mitogen runs.
    for action in ("ansible.builtin.command", "copy", "ansible.legacy.stat", "uri"):
        assert plugin.runs_on_thread(task(action), "ssh"), action
        assert plugin.runs_on_thread(task(action), "local"), action
        assert not plugin.runs_on_thread(task(action), "winrm"), action
    assert plugin.runs_on_thread(task("command", until=["done"]), "ssh")
    assert not plugin.runs_on_thread(task("ansible.builtin.template"), "ssh")
    assert not plugin.runs_on_thread(task("govmig_http", timeout=30), "ssh")
    assert not plugin.runs_on_thread(task("command", timeout=30), "ssh")
    assert not plugin.runs_on_thread(task("govmig_resolve", throttle=1), "ssh")
    assert not plugin.runs_on_thread(task("file", throttle=1), "ssh")
    assert not plugin.runs_on_thread(task("command", async_val=60), "ssh")
    assert not plugin.runs_on_thread(task("set_fact"), "ssh")


class Unready:
    """A task that cannot even be copied for its run."""

    _uuid = "task-1"

    def copy(self, exclude_tasks: bool) -> Any:
        raise RuntimeError("no copy today")

    def dump_attrs(self) -> dict[str, Any]:
        return {}


def test_a_task_that_fails_before_it_runs_here_fails_alone_as_in_a_worker(
    plugin: ModuleType,
) -> None:
    sent: list[Any] = []
    strategy = object.__new__(plugin.StrategyModule)  # no run to take part in
    strategy._queued_task_cache = {}
    strategy._pending_results = 0
    strategy._tqm = SimpleNamespace(send_callback=lambda *args: None)
    strategy._final_q = SimpleNamespace(send_task_result=sent.append)

    strategy._run_in_process(SimpleNamespace(name="a"), Unready(), {}, None)

    # Its result is queued, as a worker's is, for the strategy to process: a failed task.
    [wire] = [result.as_wire_task_result() for result in sent]
    assert (wire.host_name, wire.task_uuid) == ("a", "task-1")
    assert wire.return_data["failed"]
    assert "no copy today" in wire.return_data["msg"]
    assert strategy._pending_results == 1
    assert ("a", "task-1") in strategy._queued_task_cache


class Exiting:
    """A task whose run ends its thread with SystemExit, as no worker's may."""

    _uuid = "task-2"

    def copy(self, exclude_tasks: bool) -> Exiting:
        return self

    def dump_attrs(self) -> dict[str, Any]:
        return {}


def test_a_check_whose_thread_dies_still_sends_its_result_and_frees_its_slot(
    plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Any] = []

    class Dying:
        def __init__(self, *args: Any) -> None:
            pass

        def run(self) -> dict[str, Any]:
            raise SystemExit("the action called sys.exit")

    monkeypatch.setattr(plugin, "TaskExecutor", Dying)
    strategy = object.__new__(plugin.StrategyModule)  # no run to take part in
    strategy._queued_task_cache = {}
    strategy._pending_results = 0
    strategy._threads = []
    strategy._thread_slots = threading.BoundedSemaphore(1)
    strategy._tqm = SimpleNamespace(send_callback=lambda *args: None)
    strategy._final_q = SimpleNamespace(send_task_result=sent.append)
    strategy._loader = strategy._variable_manager = None

    for name in ("a", "b"):  # one slot: b waits for a's thread to end
        strategy._run_on_thread(SimpleNamespace(name=name), Exiting(), {}, None)
    strategy._join_threads()

    wires = [result.as_wire_task_result() for result in sent]
    assert [wire.host_name for wire in wires] == ["a", "b"]
    assert all(wire.return_data["failed"] for wire in wires)
    assert "sys.exit" in wires[0].return_data["msg"]
    assert strategy._pending_results == 2
    assert strategy._threads == []
    assert strategy._thread_slots.acquire(blocking=False), "every slot was given back"


def test_one_legacy_lookup_before_the_workers_fork_finds_every_module_for_them(
    plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = plugin.ansible_mitogen.loaders.module_loader
    monkeypatch.setattr(loader, "_plugin_path_cache", defaultdict(dict))
    monkeypatch.setattr(loader, "_searched_paths", set())

    plugin.warm_legacy_modules("ansible.builtin.command")

    # What the copy action runs besides its own module is found with no directory listed.
    assert {"command", "copy", "stat", "file"} <= loader._plugin_path_cache[""].keys()
    searched = set(loader._searched_paths)
    assert loader.find_plugin("ansible.legacy.stat", "").endswith("/modules/stat.py")
    assert loader._searched_paths == searched


def test_no_process_of_a_run_is_pinned_to_a_cpu(plugin: ModuleType) -> None:
    policy = plugin.ansible_mitogen.affinity.policy
    every_cpu = os.sched_getaffinity(0)
    child = os.fork()
    if child == 0:  # in a child, as Mitogen's processes are: a pin must not reach this one
        policy.assign_controller()
        policy.assign_muxprocess(0)
        policy.assign_worker()
        policy.assign_subprocess()
        os._exit(0 if os.sched_getaffinity(0) == every_cpu else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


class Compiling:
    """Jinja's own compile, counting the template strings it compiled."""

    def __init__(self) -> None:
        self.compiled: list[object] = []

    def __call__(self, env: jinja2.Environment, source: Any, *args: Any) -> Any:
        self.compiled.append(source)
        return jinja2.Environment.compile(env, source, *args)


@dataclass(frozen=True)
class Templates:
    """The plugin's template cache in front of Jinja's compile, which counts what it compiles."""

    directory: Path
    jinja: Compiling
    compile: Callable[..., Any]
    plugin: ModuleType

    def code(self, env: jinja2.Environment, source: str) -> bool:
        """Whether ``source`` compiled through the cache is the code Jinja compiles for it."""
        return bool(self.compile(env, source) == jinja2.Environment.compile(env, source))

    def next_run(self) -> Templates:
        """The cache as the next run finds it: the same directory, nothing in memory."""
        return Templates(
            self.directory, self.jinja, self.plugin.cached_compile(self.jinja, self.directory),
            self.plugin,
        )  # fmt: skip


@pytest.fixture
def templates(plugin: ModuleType) -> Templates:
    directory = plugin.cache_dir(plugin.TEMPLATES)
    assert directory is not None
    jinja = Compiling()
    return Templates(directory, jinja, plugin.cached_compile(jinja, directory), plugin)


def plain_env(**filters: Any) -> jinja2.Environment:
    """An environment that compiles as Ansible's does, with only ``filters`` (and Jinja's)."""
    env: jinja2.Environment = AnsibleEnvironment()
    env.filters = {**jinja2.Environment().filters, **filters}
    return env


def test_a_template_compiled_once_is_used_again_from_the_cache(templates: Templates) -> None:
    source = "{% for n in range(count) %}{{ n * 2 }},{% endfor %} {{ name | upper }}"

    assert templates.code(plain_env(), source)
    assert templates.code(plain_env(), source)  # a new worker's environment

    assert templates.jinja.compiled == [source]
    assert len(list(templates.directory.iterdir())) == 1


def test_a_run_reads_a_templates_entry_once_and_the_next_run_reads_it_again(
    templates: Templates, plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    read = plugin.govmig_host_code.read

    def counting(path: Path) -> Any:
        reads.append(path)
        return read(path)

    monkeypatch.setattr(plugin.govmig_host_code, "read", counting)
    source = "{{ name | upper }} {{ count + 1 }}"
    for _render in range(3):
        assert templates.code(plain_env(), source)
    assert len(reads) == 1  # the first render's miss: compiled, then kept

    next_run = templates.next_run()
    for _render in range(3):
        assert next_run.code(plain_env(), source)

    assert len(reads) == 2
    assert templates.jinja.compiled == [source]


def test_a_conditional_compiled_once_is_used_again_from_the_cache(
    plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conditional is an expression, which Jinja compiles as a template it builds of it:
    its code is kept under a key of the expression, apart from a template string's."""
    compiled: list[str] = []
    own = jinja2.Environment._compile

    def counting(env: jinja2.Environment, code: str, filename: str) -> CodeType:
        compiled.append(code)
        return own(env, code, filename)

    monkeypatch.setattr(jinja2.Environment, "_compile", counting)
    directory = plugin.cache_dir(plugin.TEMPLATES)
    assert directory is not None
    expression = "answer > 40 and names | length == 2"

    first = plain_env().compile_expression(expression)
    again = plain_env().compile_expression(expression)  # a new environment: from the cache

    assert len(compiled) == 1
    assert (
        again._template.root_render_func.__code__.co_code
        == first._template.root_render_func.__code__.co_code
    )
    assert len(list(directory.iterdir())) == 1
    # Another expression, and the same text as a template string, are entries of their own.
    plain_env().compile_expression("answer < 40")
    plain_env().from_string(expression)
    assert len(compiled) == 3
    assert len(list(directory.iterdir())) == 3


def test_a_template_is_compiled_again_when_its_settings_change(templates: Templates) -> None:
    env = plain_env()
    source = "{{ 'a\\tb' }}\n"
    assert templates.code(env, source)
    with _TemplateCompileContext(escape_backslashes=True):
        assert templates.code(env, source)
    env.keep_trailing_newline = True
    assert templates.code(env, source)

    assert templates.jinja.compiled == [source] * 3


def test_a_template_is_compiled_again_when_a_filter_it_calls_takes_other_arguments(
    templates: Templates,
) -> None:
    source = "{{ 'gz' | shout }}"
    assert templates.code(plain_env(shout=lambda value: value.upper()), source)
    with_context = pass_context(lambda context, value: value.upper())
    assert templates.code(plain_env(shout=with_context), source)

    assert templates.jinja.compiled == [source, source]


def test_a_damaged_template_entry_is_compiled_again(templates: Templates) -> None:
    env = plain_env()
    assert templates.code(env, "{{ 1 + 1 }}")
    (entry,) = templates.directory.iterdir()
    entry.write_bytes(b"not marshal")

    assert templates.next_run().code(env, "{{ 1 + 1 }}")
    assert templates.jinja.compiled == ["{{ 1 + 1 }}", "{{ 1 + 1 }}"]


def test_only_template_strings_are_kept(templates: Templates) -> None:
    env = plain_env()
    parsed = env.parse("{{ 1 }}")
    templates.compile(env, parsed)
    templates.compile(env, "{{ 1 }}", None, None, True)  # raw: the generated Python source

    assert templates.jinja.compiled == [parsed, "{{ 1 }}"]
    assert list(templates.directory.iterdir()) == []


def test_the_jinja_plugins_are_loaded_before_the_workers_fork(
    plugin: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    for loader in (filter_loader, test_loader):
        monkeypatch.setattr(loader, "_cached_non_collection_wrappers", {})

    plugin.warm_jinja_plugins()

    assert "ansible.builtin.to_json" in filter_loader._cached_non_collection_wrappers
    assert "ansible.builtin.regex" in test_loader._cached_non_collection_wrappers


class Lookups:
    """A Jinja plugin loader that counts the lookups it makes."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.cleared = 0

    def get_with_context(self, name: str, *args: Any, **kwargs: Any) -> str | None:
        self.asked.append((name, args, kwargs))
        return None if name == "length" else f"plugin {name}"

    def _clear_caches(self) -> None:
        self.cleared += 1


def test_a_jinja_plugin_lookup_is_made_once_until_the_loaders_caches_are_cleared(
    plugin: ModuleType,
) -> None:
    loader = Lookups()
    plugin.remember_lookups(loader)
    plugin.remember_lookups(loader)  # again: still one lookup each

    # Found or not (Jinja's own ``length``), each name is looked up once.
    assert [loader.get_with_context(n) for n in ("length", "to_json", "length")] == [
        None, "plugin to_json", None
    ]  # fmt: skip
    assert [name for name, _, _ in loader.asked] == ["length", "to_json"]
    # A lookup with options of its own is made as Ansible makes it, every time.
    loader.get_with_context("to_json", collection_list=["a.b"])
    loader.get_with_context("to_json", collection_list=["a.b"])
    assert loader.asked[2:] == [("to_json", (), {"collection_list": ["a.b"]})] * 2
    # A directory added to its path clears its caches, and what it remembered with them.
    loader._clear_caches()
    assert loader.cleared == 1
    loader.get_with_context("length")
    assert [name for name, _, _ in loader.asked] == [
        "length",
        "to_json",
        "to_json",
        "to_json",
        "length",
    ]


class Resolutions(Lookups):
    """A module or action plugin loader that counts the resolutions it makes."""

    def find_plugin_with_context(self, name: str, *args: Any, **kwargs: Any) -> str:
        self.asked.append((name, args, kwargs))
        return f"{name} in {kwargs.get('collection_list')}"


def test_a_plugins_resolution_is_made_once_for_each_name_and_options(plugin: ModuleType) -> None:
    loader = Resolutions()
    plugin.remember_lookups(loader, "find_plugin_with_context", plugin.name_and_options)

    resolve = loader.find_plugin_with_context
    found = resolve("ansible.builtin.copy", collection_list=["a.b"])
    assert found == "ansible.builtin.copy in ['a.b']"
    resolve("ansible.builtin.copy", collection_list=["a.b"])
    resolve("ansible.builtin.copy", collection_list=None)  # other options: resolved again
    # Options passed in order, as find_plugin passes them, are options too.
    resolve("ansible.builtin.copy", "", False, False, ["a.b"])
    resolve("ansible.builtin.copy", "", False, False, ["a.b"])
    assert loader.asked == [
        ("ansible.builtin.copy", (), {"collection_list": ["a.b"]}),
        ("ansible.builtin.copy", (), {"collection_list": None}),
        ("ansible.builtin.copy", ("", False, False, ["a.b"]), {}),
    ]
    # Options that cannot be a key (a dict) are resolved as Ansible does, every time.
    resolve("ansible.builtin.copy", collection_list={"a": 1})
    resolve("ansible.builtin.copy", collection_list={"a": 1})
    assert len(loader.asked) == 5
    loader._clear_caches()
    resolve("ansible.builtin.copy", collection_list=["a.b"])
    assert len(loader.asked) == 6
    assert loader.cleared == 1


# Ansible's own loaders, as ansible-playbook has them: its collection finder installed (in a
# process of its own, not in the test's), then the plugin loaded. Prints what five lookups of
# Jinja's own ``length`` found and how many times the collection's plugins were listed, and
# how many resolution steps five tasks' worth of a module and action lookups took, as a task
# executor makes them (``has_plugin``, ``find_plugin_with_context``).
LOOKUPS = """
import json, pkgutil, sys
from pathlib import Path
from ansible.plugins.loader import action_loader, filter_loader, init_plugin_loader, module_loader
from tests.fixtures.file_modules import load_file
init_plugin_loader()
listed, steps = [], []
iter_modules = pkgutil.iter_modules
pkgutil.iter_modules = lambda *a, **k: listed.append(a) or iter_modules(*a, **k)
for loader in (module_loader, action_loader):
    step = loader._resolve_plugin_step
    loader._resolve_plugin_step = lambda *a, _s=step, **k: steps.append(a) or _s(*a, **k)
if sys.argv[1] == "with-plugin":
    load_file(Path(sys.argv[2]))
found = [filter_loader.get("length") for _ in range(5)]
listings = len(listed)
resolved = set()
for _ in range(5):
    module = module_loader.find_plugin_with_context("ansible.builtin.copy", collection_list=["a.b"])
    action = action_loader.has_plugin("ansible.builtin.copy", collection_list=["a.b"])
    resolved.add((module.resolved_fqcn, action))
json.dump(
    {"found": [f is None for f in found], "listed": listings, "steps": len(steps),
     "resolved": sorted(resolved)},
    sys.stdout,
)
"""


@pytest.mark.parametrize(("how", "listings", "steps"), [("with-plugin", 1, 2), ("without", 5, 10)])
def test_lookups_and_resolutions_are_made_once_per_run_with_ansibles_own_loaders(
    tmp_path: Path, how: str, listings: int, steps: int
) -> None:
    plugin_file = PLAYBOOK_DIR / "strategy_plugins" / "govmig_mitogen.py"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", LOOKUPS, how, str(plugin_file)],
        capture_output=True, text=True, check=True, env=env, timeout=120,
    )  # fmt: skip
    # Not an Ansible filter each time (Jinja's own, then), and listed once with the plugin;
    # the module and the action found alike, resolved once each with it.
    assert json.loads(done.stdout) == {
        "found": [True] * 5,
        "listed": listings,
        "steps": steps,
        "resolved": [["ansible.builtin.copy", True]],
    }


# A lookup plugin whose code, once started, waits until the test releases it.
SLOW_LOOKUP = """
import builtins
from ansible.plugins.lookup import LookupBase
builtins.govmig_loading.set()
builtins.govmig_release.wait(30)
class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return terms
"""
# Ansible's own lookup loader, as ansible-playbook has it: a first thread starts loading the
# slow plugin, a second asks for it meanwhile and a third looks another plugin up. Prints
# what those two had got before the first was released, and what each got in the end
# (whether it can run the lookup, whether the other was found).
SLOW_LOADS = """
import builtins, json, sys, threading
from pathlib import Path
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from tests.fixtures.file_modules import load_file
init_plugin_loader()
if sys.argv[1] == "with-plugin":
    load_file(Path(sys.argv[2]))
lookup_loader.add_directory(sys.argv[3])
builtins.govmig_loading, builtins.govmig_release = threading.Event(), threading.Event()
got = {}
def get(who):
    try:
        got[who] = hasattr(lookup_loader.get("govmig_slow"), "run")
    except Exception as error:
        got[who] = type(error).__name__
def find(who):
    got[who] = lookup_loader.find_plugin_with_context("pipe").resolved
first = threading.Thread(target=get, args=("first",))
first.start()
builtins.govmig_loading.wait(30)
others = [threading.Thread(target=get, args=("second",)),
          threading.Thread(target=find, args=("finder",))]
for other in others:
    other.start()
for other in others:
    other.join(1.0)
before = dict(got)
builtins.govmig_release.set()
for thread in [first, *others]:
    thread.join(30)
json.dump({"before": before, "after": got}, sys.stdout)
"""


@pytest.mark.parametrize("how", ["with-plugin", "without"])
def test_a_plugin_loader_serves_one_thread_at_a_time(tmp_path: Path, how: str) -> None:
    """The loader puts a plugin's module in ``sys.modules`` before it runs its code: without
    the strategy's lock, a thread asking meanwhile got it half made. With it, a lookup waits
    too (a lookup fills the caches a load reads)."""
    (tmp_path / "lookups").mkdir()
    (tmp_path / "lookups" / "govmig_slow.py").write_text(SLOW_LOOKUP, encoding="utf-8")
    plugin_file = PLAYBOOK_DIR / "strategy_plugins" / "govmig_mitogen.py"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", SLOW_LOADS, how, str(plugin_file), str(tmp_path / "lookups")],
        capture_output=True, text=True, check=True, env=env, timeout=120,
    )  # fmt: skip
    loads = json.loads(done.stdout)
    if how == "with-plugin":
        assert loads == {
            "before": {},
            "after": {"first": True, "second": True, "finder": True},
        }
    else:  # the race the lock closes: the second got the module before its class
        assert loads["before"] == {"second": loads["after"]["second"], "finder": True}
        assert loads["after"]["first"] is True
        assert loads["after"]["second"] is not True


def test_each_jump_host_of_the_plays_hosts_is_logged_in_to_once(plugin: ModuleType) -> None:
    """The hosts that share a jump host share its login, made first (``govmig_site``)."""
    bastion = {"argv": ["ssh", "-o", "ControlMaster=auto"], "address": "10.0.0.22"}
    other = {"argv": ["ssh", "-o", "ControlMaster=auto"], "address": "10.0.9.22"}
    hosts = [
        SimpleNamespace(vars={"govmig_jump": bastion}),
        SimpleNamespace(vars={"govmig_jump": dict(bastion)}),
        SimpleNamespace(vars={"govmig_jump": other}),
        SimpleNamespace(vars={"govmig_jump": None}),  # reached straight
        SimpleNamespace(vars={"govmig_jump": {"argv": "ssh"}}),  # left for its actions to refuse
        SimpleNamespace(vars={}),
    ]
    assert plugin.jumps_of(hosts) == [bastion, other]


def test_the_in_process_binding_outlives_the_thread_that_made_it_and_a_tasks_close(
    plugin: ModuleType,
) -> None:
    model = SimpleNamespace(broker=None)  # Mitogen's worker model, as the binding uses it
    bound: list[str] = []
    binding = object.__new__(plugin.InProcessBinding)  # not the one installed
    binding._lock, binding._pid, binding._model = threading.Lock(), os.getpid(), None
    binding._get = lambda model, name: bound.append(name)

    def shut(model: Any) -> None:  # Mitogen's on_binding_close, as far as the broker goes
        model.broker.shutdown()
        model.broker.join()
        model.broker = None

    binding._close = shut
    made = threading.Thread(target=binding._get_binding, args=(model, "a"))
    made.start()
    made.join()
    broker = model.broker
    # Mitogen's broker would shut down when its thread ended: this one has no such watch.
    assert isinstance(broker, plugin.ansible_mitogen.process.Broker)
    assert broker._watcher is None
    binding._get_binding(model, "b")
    binding._on_binding_close(model)  # a task's connection closing
    assert model.broker is broker
    assert bound == ["a", "b"]

    binding.close()  # before a fork, and at the run's end
    assert model.broker is None
    assert broker._exitted
    binding.close()  # nothing more to close


class Waiting:
    """What ``_wait_on_pending_results`` uses of a strategy: its count of results pending, its
    results queue (``ArrivingResults``), its task queue manager and its processing."""

    def __init__(self, plugin: ModuleType, pending: int) -> None:
        self.dead = False
        self._pending_results = pending
        self._results = plugin.ArrivingResults()
        self._tqm = SimpleNamespace(_terminated=False, has_dead_workers=lambda: self.dead)

    def _process_pending_results(self, iterator: object) -> list[str]:
        found = []
        while self._results:
            found.append(self._results.popleft())
            self._pending_results -= 1
        return found


def test_the_strategy_waits_for_each_result_as_it_arrives_from_another_thread(
    plugin: ModuleType,
) -> None:
    strategy = Waiting(plugin, pending=3)
    strategy._results.append("first")  # already there when the wait begins
    started = threading.Event()

    def results_thread() -> None:
        started.wait(10)
        for result in ("second", "third"):
            strategy._results.append(result)

    sender = threading.Thread(target=results_thread)
    sender.start()
    started.set()
    found = plugin.StrategyModule._wait_on_pending_results(strategy, iterator=None)
    sender.join(10)

    assert found == ["first", "second", "third"]
    assert strategy._pending_results == 0


def test_the_strategy_waiting_for_results_stops_at_a_dead_worker_or_a_stopped_run(
    plugin: ModuleType,
) -> None:
    strategy = Waiting(plugin, pending=1)
    strategy.dead = True
    with pytest.raises(plugin.AnsibleError, match="A worker was found in a dead state"):
        plugin.StrategyModule._wait_on_pending_results(strategy, iterator=None)
    strategy.dead, strategy._tqm._terminated = False, True
    assert plugin.StrategyModule._wait_on_pending_results(strategy, iterator=None) == []
