"""Ansible strategy: Mitogen's ``mitogen_free``, with at most a few hosts in their
downtime at once, the modules it serves and the templates workers compile built once,
and no process pinned to a CPU.

Each host (a system of the batch) goes through its tasks at its own pace, as in
Ansible's ``free`` strategy: one that waits on a slow copy holds up no other. And
no more than ``GOVMIG_MAX_DOWN`` hosts (4 by default) are in their downtime at
once, served before the others: a host whose next task starts its downtime (a
``set_fact`` of ``govmig_downtime_started_at``, the role's contract) waits there,
before its source stops, until one of them has ended its own (its ``govmig_report``
has its ``downtime_ms``) or is done. The one loop that serves every host of the
run then serves a few windows at a time: under ``linear``, every host of a batch
of 28 on the lab was down for 7 s, what the whole batch took for each task of the
window, against 0.8 s for a system alone in its run.

Mitogen's master sends hosts the Python modules they import (Ansible's
module_utils, Mitogen itself). Each run builds every module it serves anew:
minified where it may be, compressed at zlib's level 9, and its imports
scanned to send them along. That is about a quarter of a second of the
controller's CPU in every run, though it depends only on the module's file.

Here each built module is kept in a cache directory and used again while its
file (and, for a package, its directory) is unchanged: the same inode, size,
modification and change times. The directory's name carries Python's,
Mitogen's and Ansible's versions, so an upgrade starts an empty one. What a
run sends is what Mitogen would build: only where it comes from changes. The
imports sent along are a hint (a host asks for any module it lacks), so an
entry stays right even if a module it imports changes. The same cache keeps
``mitogen.core`` minified, the bootstrap sent to every host, which each run's
multiplexer minified anew (70 ms), while ``mitogen.core`` and the minifier are
unchanged. Before it sends a task's module, Mitogen compiles the module and every
``module_utils`` file it imports to read their imports, again in every run: that
code is kept in a third cache directory, under a key of the source itself.

In Ansible, each task of each host runs in a worker forked from
ansible-playbook's process, and whatever the worker builds dies with it. Two
things every worker built again are built once here instead:

* the Jinja filter and test plugins, loaded in the parent before it forks
  (a worker that templates a filter loaded every filter plugin);
* compiled templates: the Python code Jinja generates for a template string,
  kept in a second cache directory under a key of everything the code depends
  on (the source, the environment's syntax and code generation settings,
  Ansible's compile-time options; the directory's name carries the versions),
  with how the code calls each filter and test it names, checked before use.
  A conditional (``when``, ``that``, ``changed_when``...) is an expression, which
  Jinja parses and compiles as a template of its own: its code is kept the same
  way, under a key of the expression.

On the lab's wave (``bench.lab_wave``) the two took a sixth off the controller's
CPU: under a profiler, compiling templates was over a third of a worker's time
and loading the Jinja plugins a tenth.

A task whose action only computes (``set_fact``, ``assert``, ``fail``,
``debug``) forks no worker at all: it runs in this process, as its worker
would have run it, and its result goes the way a worker's does. The fork cost
more than such a task's work: 28 hosts with 20 such tasks each took 8.2 to 8.8
CPU-s so, against 24 to 29 in workers.

A task that waits, on the network or on its host, forks no worker either: it
waits on a thread of this process, at most ``forks`` at once. Those are govmig's
own checks that ask the network from the controller (``govmig_http``,
``govmig_resolve``, ``govmig_reach``, ``govmig_nsupdate``), and the tasks that run
a module on a host over a Mitogen connection (``command``, ``copy``, ``file``...).
Ansible's plugin loaders, which are not safe for threads, serve one thread at a
time (``one_at_a_time``); the threads share one connection to Mitogen's
multiplexer (``InProcessBinding``), where each worker made its own. No worker is
forked while one of those threads, or that connection's broker thread, is alive
(a fork would copy a lock a thread holds, held forever in the worker).

Each host's interpreter compiles the modules it is sent, in every run: before
anything else, each is sent ``plugin_utils/govmig_host_code.py``, which keeps
that code compiled in the host user's cache directory; not in a run whose
environment has ``GOVMIG_HOST_CODE_CACHE=0`` (as the ssh provider's inventory's
``host_code_cache: false`` sets).

A run's connections through a site's jump host share one login to it (the ssh
provider's ``JUMP_SHARING``), but those that start together would each find
none yet and each make one: the strategy makes it first (``govmig_site``'s
``log_in_first``), before the play's first task.

The caches hold code that runs (on every managed host, and in every worker),
so they are trusted as the code itself is: under the user's cache directory
(``$XDG_CACHE_HOME``, else ``~/.cache``), in directories of this user's that
nobody else can write or move (nor any directory above them), or not used at
all. Each installation (its versions and prefix) has its own directory of each
cache, touched by every run that opens it; one no run has opened for 30 days is
removed when another is opened, so an upgrade leaves nothing behind for long.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import contextvars
import functools
import hashlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from types import CodeType
from typing import Any

import ansible.release
import ansible_mitogen.affinity
import ansible_mitogen.loaders
import ansible_mitogen.module_finder
import ansible_mitogen.process
import ansible_mitogen.services
import ansible_mitogen.strategy
import jinja2
import mitogen
import mitogen.core
import mitogen.master
import mitogen.minify
import mitogen.parent
from ansible.constants import add_internal_fqcns
from ansible.errors import AnsibleError
from ansible.executor.task_executor import TaskExecutor
from ansible.plugins import loader as plugin_loader
from ansible.plugins.loader import (
    PluginLoader,
    action_loader,
    filter_loader,
    module_loader,
    test_loader,
)
from ansible.utils.display import Display
from jinja2 import Environment, nodes

# Sent to each host's interpreter, which runs it before anything else (install()); it makes
# and keeps the caches here too.
HOST_CODE = Path(__file__).resolve().parents[1] / "plugin_utils" / "govmig_host_code.py"
sys.path.append(str(HOST_CODE.parent))  # last: shadows nothing
import govmig_host_code  # noqa: E402
import govmig_site  # noqa: E402

try:  # ansible-core's (2.19) and Jinja's internals: without them, templates compile as before
    from ansible._internal._templating import _jinja_bits
    from ansible._internal._templating._jinja_common import _TemplateConfig
    from jinja2.utils import _PassArg
except ImportError:
    _jinja_bits = None

try:  # ansible-core's (2.19) worker internals: without them, every task runs in a worker
    from ansible._internal import _task
    from ansible._internal._errors import _error_utils
    from ansible.executor.task_result import _RawTaskResult
except ImportError:
    _RawTaskResult = None

display = Display()

Built = tuple[Any, ...]  # Mitogen's (fullname, pkg_present, path, compressed, related)
# The caches' directories: built modules, compiled templates, code compiled to be scanned.
MODULES, TEMPLATES, SCANNED = "mitogen-modules", "jinja-code", "mitogen-scanned-code"
# How often a strategy waiting for task results looks for a dead worker and a stopped run
# (a result ends the wait at once: ArrivingResults).
DEAD_WORKER_CHECK_S = 0.1
# A host names the module it asks for: only a dotted Python name becomes a file name.
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


def cache_dir(kind: str = MODULES, env: Mapping[str, str] = os.environ) -> Path | None:
    """This installation's cache directory of ``kind``, created private; None if others could
    change it (``govmig_host_code.installation_dir``, which the launcher's cache uses too)."""
    versions = (
        f"{sys.version}|{mitogen.__version__}|{ansible.release.__version__}|{sys.prefix}"
        f"|{jinja2.__version__}"
    )
    return govmig_host_code.installation_dir(kind, versions, environ=env)


def _stamp(path: str, is_pkg: bool) -> tuple[int, ...] | None:
    """What must be unchanged for an entry to stand: the file, and a package's directory.
    The change time too, which a write always moves and nothing sets back."""
    try:
        info = Path(path).stat()
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        return (*stamp, Path(path).parent.stat().st_mtime_ns) if is_pkg else stamp
    except OSError:
        return None


def load(directory: Path, fullname: str) -> Built | None:
    """The cached module tuple of ``fullname``, or None when absent or stale."""
    match govmig_host_code.read(directory / fullname):
        case [str(path), stamp, pkg_present, bytes(compressed), related]:
            if _stamp(path, pkg_present is not None) == stamp:
                return (fullname, pkg_present, path, mitogen.core.Blob(compressed), related)
    return None


def store(directory: Path, built: Built) -> None:
    """Keep a module tuple Mitogen built; negative answers and ``__main__`` are not kept."""
    fullname, pkg_present, path, compressed, related = built
    stamp = _stamp(path, pkg_present is not None) if compressed is not None else None
    if stamp is None or fullname == "__main__":
        return
    record = (path, stamp, pkg_present, bytes(compressed), list(related))
    govmig_host_code.store(directory / fullname, record)


def cached(build: Callable[[Any, str], Built], directory: Path) -> Callable[[Any, str], Built]:
    """``ModuleResponder._build_tuple`` that first looks in ``directory``."""

    def build_tuple(responder: Any, fullname: str) -> Built:
        if fullname in responder._cache:
            return responder._cache[fullname]
        responder.policy.denied_raise(fullname)
        if not MODULE_NAME.fullmatch(fullname):
            return build(responder, fullname)
        found = load(directory, fullname)
        if found is None:
            found = build(responder, fullname)
            store(directory, found)
        responder._cache[fullname] = found
        return found

    return build_tuple


# The entry of Mitogen's minified mitogen.core: no module's name, so no module's entry.
CORE_SOURCE = "@mitogen.core.minified"


def cached_core_source(
    build: Callable[[], str], directory: Path, sources: tuple[str, ...]
) -> Callable[[], str]:
    """Mitogen's ``_get_core_source`` that first looks in ``directory``: ``mitogen.core``
    minified, the bootstrap every host is sent. Each run's multiplexer minified it anew
    (70 ms); the entry stands while the ``sources`` it was made from are unchanged."""

    def core_source() -> str:
        stamps = [_stamp(path, False) for path in sources]
        match govmig_host_code.read(directory / CORE_SOURCE):
            case [kept, str(source)] if kept == stamps and None not in stamps:
                return source
        source = build()
        if None not in stamps:
            govmig_host_code.store(directory / CORE_SOURCE, (stamps, source))
        return source

    return core_source


def installing_host_code(
    send_forwards: Callable[[Any, Any], None], source: str
) -> Callable[[Any, Any], None]:
    """``ContextService._send_module_forwards`` that then has the new interpreter run
    ``source``, before the call that sets it up (``init_child``) imports the rest of
    ``ansible_mitogen``: a context runs its calls in the order they are sent. No reply is
    awaited, so a host costs no round trip more; a failure is the host's log line only."""

    def send_module_forwards(service: Any, context: Any) -> None:
        send_forwards(service, context)
        context.call_no_reply(exec, source, {"__name__": HOST_CODE.stem})

    return send_module_forwards


def warm_jinja_plugins() -> None:
    """Load the filter and test plugins in this process, before the workers fork from it.

    A worker that templates a filter (or a test) loads every filter (test) plugin on the
    plugin path, unless its parent had: ansible-playbook's own process templates little,
    so every worker loaded them again."""
    for loader in (filter_loader, test_loader):
        list(loader.all())


# What a plugin loader does that its caches make unsafe on two threads at once.
LOADER_ENTRIES = ("find_plugin_with_context", "get_with_context", "_load_module_source")


def one_at_a_time(method: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    """``method``, a plugin loader's, called by one thread at a time (``lock``).

    Ansible's loaders were written for one thread. A lookup fills the loader's caches of
    what its directories hold as it goes, and a thread reading them meanwhile found no
    plugin (``the connection plugin 'ssh' was not found``); a load puts the plugin's module
    in ``sys.modules`` before it runs the module's code, and a thread asking meanwhile got
    it half made (a lookup plugin without its class). The strategy's threads may each be
    the first to use a plugin: a connection, a lookup in a task's arguments. Reentrant: a
    plugin's code may itself ask a loader (Mitogen's connections ask for Ansible's)."""
    if hasattr(method, "__wrapped__"):
        return method  # installed already

    @functools.wraps(method)
    def alone(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return alone


def bare_name(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable | None:
    """A lookup by its name alone; None for one with options (a plugin made with them)."""
    return None if args or kwargs else name


def remember_lookups(
    loader: Any,
    method: str = "get_with_context",
    key: Callable[[str, tuple[Any, ...], dict[str, Any]], Hashable | None] = bare_name,
) -> None:
    """Have a plugin loader remember what its ``method`` found for each lookup, a plugin or
    none, until a directory is added to its path (which clears its own caches).

    ``key`` names a lookup by its arguments, or None for one to make as Ansible does; by
    default only a bare name is remembered (``bare_name``). Installed on the loader itself, from its
    class's own methods, so installing it again changes nothing. Ansible keeps too little
    of what its loaders find:

    * Every task's template environment looks each filter and test a template names up as
      an Ansible plugin first, Jinja's own (``length``, ``list``, ``sameas``) too. A name
      not among Ansible's legacy plugins is then looked for in its collection, by loading
      each of the collection's plugin files, and that result is never kept: about 1.2 ms
      for every ``length``, in every task of every host. 28 hosts of 23 small tasks made
      1,120 such lookups, 2.3 of the run's 14 s under cProfile.
    * Each task of each host resolves its module and its action (``ansible.builtin.copy``)
      by testing the paths it might be at (``find_plugin_with_context``): a tenth of the
      run's main process on the lab's wave, under a sampling profiler."""
    lookup, clear = getattr(type(loader), method), type(loader)._clear_caches
    found: dict[Hashable, Any] = {}

    def remembered(name: str, *args: Any, **kwargs: Any) -> Any:
        named = key(name, args, kwargs)
        if named is None:
            return lookup(loader, name, *args, **kwargs)
        if named not in found:
            found[named] = lookup(loader, name, *args, **kwargs)
        return found[named]

    def clear_caches() -> None:
        clear(loader)
        found.clear()

    setattr(loader, method, remembered)
    loader._clear_caches = clear_caches


def name_and_options(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable | None:
    """A plugin's resolution by its name and every option it was asked with, however
    passed (a list of collections as a tuple); None for options that cannot be a key."""
    options = sorted(kwargs.items())
    named = (name, tuple(map(frozen, args)), tuple((k, frozen(v)) for k, v in options))
    try:
        hash(named)
    except TypeError:
        return None
    return named


def frozen(value: object) -> object:
    """A list as a tuple, to be part of a key."""
    return tuple(value) if isinstance(value, list) else value


def warm_legacy_modules(action: str) -> None:
    """Look a task's module up by its legacy name in this process, before the workers fork.

    Mitogen's warm-up looks up the name the task gives (``ansible.builtin.command``), but
    the action plugins run their module by its legacy name (``ansible.legacy.command``),
    which the loader finds by listing the module directories: a tenth of every worker's
    time on a task that runs a module. One lookup lists them all for every worker after."""
    ansible_mitogen.loaders.module_loader.find_plugin(
        f"ansible.legacy.{action.rpartition('.')[2]}", ""
    )


# How each filter and test a template names is called by its code: ("filter" or "test",
# name, Jinja's pass argument: context, eval_context, environment or None).
Uses = list[tuple[str, str, str | None]]


def _pass_arg(env: Environment, kind: str, name: str) -> str | None:
    """How Jinja's generated code calls the filter or test ``name`` of ``env``, as its
    code generator decides it."""
    found = (env.filters if kind == "filter" else env.tests).get(name)
    passed = _PassArg.from_obj(found) if found is not None else None
    return passed.name if passed is not None else None


def uses(
    env: Environment, source: str | nodes.Template, name: str | None, filename: str | None
) -> Uses:
    """The filters and tests ``source`` (a template string, or one parsed) names, each with
    how its code calls it."""
    parsed = source if isinstance(source, nodes.Template) else env._parse(source, name, filename)
    named = {("filter", node.name) for node in parsed.find_all(nodes.Filter)}
    named |= {("test", node.name) for node in parsed.find_all(nodes.Test)}
    return [(kind, each, _pass_arg(env, kind, each)) for kind, each in sorted(named)]


def template_key(
    env: Environment,
    source: str,
    name: str | None,
    filename: str | None,
    defer_init: bool,
    expression: bool = False,
) -> str:
    """Everything a template's code depends on but its filters and tests (and the
    versions, which name the directory); ``source`` is an expression's (``expression``),
    whose template Jinja builds from it, or a template string."""
    context = _jinja_bits._TemplateCompileContext.current(optional=True)
    settings = (
        tuple(getattr(env, field) for field in _jinja_bits._TEMPLATE_OVERRIDE_FIELD_NAMES),
        (env.optimized, env.is_async, env.autoescape, sorted(env.extensions)),
        (type(env).code_generator_class.__qualname__, env.finalize is None),
        _PassArg.from_obj(env.finalize) if env.finalize is not None else None,
        context.escape_backslashes if context is not None else None,
        _TemplateConfig.allow_embedded_templates,
    )
    described = repr((settings, str(source), name, filename, defer_init, expression))
    return hashlib.sha256(described.encode()).hexdigest()


def read_entry(directory: Path, key: str) -> tuple[CodeType, Uses] | None:
    """The cached code of ``key`` and the filters and tests it calls, or None when absent
    or damaged."""
    match govmig_host_code.read(directory / key):
        case [CodeType() as code, list(used)]:
            return code, used
    return None


def calls_alike(env: Environment, used: Uses) -> bool:
    """Whether ``env`` calls each filter and test ``used`` names as the code was compiled
    to call it (False for a damaged list)."""
    try:
        return all(_pass_arg(env, kind, name) == passed for kind, name, passed in used)
    except (TypeError, ValueError):
        return False


# The expression being compiled (``compiling_expression``), whose template Jinja builds.
_compiling_expression: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "govmig_compiling_expression", default=None
)


def compiling_expression(compile_expression: Callable[..., Any]) -> Callable[..., Any]:
    """``Environment.compile_expression`` that names the expression to ``compile`` while
    Jinja compiles it: Jinja parses it, then compiles a template it builds of it, one
    assignment of its value (``_expression_of``), where ``compile`` sees no source."""

    def compile_named(env: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
        named = _compiling_expression.set(str(source))  # its text: a key drops its tags
        try:
            return compile_expression(env, source, *args, **kwargs)
        finally:
            _compiling_expression.reset(named)

    return compile_named


def _expression_of(source: object) -> str | None:
    """The expression whose template ``source`` is, as Jinja's ``compile_expression`` built
    it (``result = <expression>``); None for any other source."""
    expression = _compiling_expression.get()
    if expression is None or not isinstance(source, nodes.Template) or len(source.body) != 1:
        return None
    (assign,) = source.body
    target = getattr(assign, "target", None)
    if not isinstance(assign, nodes.Assign) or not isinstance(target, nodes.Name):
        return None
    return expression if target.name == "result" and target.ctx == "store" else None


def cached_compile(compile_: Callable[..., Any], directory: Path) -> Callable[..., Any]:
    """``Environment.compile`` that first looks in ``directory`` for a template string's code.

    Ansible compiles a template again each time it renders one, several times per task
    and host: what a run has read or compiled is kept in its memory too, so each entry is
    read from ``directory`` once a run, not once a render (28 local hosts of 21 small tasks:
    44 reads where there were 1,232, at about 40 us of CPU each)."""
    kept: dict[str, tuple[CodeType, Uses]] = {}

    def compile_cached(
        env: Any,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        expression = _expression_of(source)
        # A callable autoescape has no stable key: such an environment is not Ansible's.
        if (
            raw
            or not (isinstance(source, str) or expression is not None)
            or env._debuggable_template_source
            or callable(env.autoescape)
        ):
            return compile_(env, source, name, filename, raw, defer_init)
        keyed = source if expression is None else expression
        key = template_key(env, keyed, name, filename, defer_init, expression is not None)
        entry = kept.get(key) or read_entry(directory, key)
        if entry is None or not calls_alike(env, entry[1]):
            code = compile_(env, source, name, filename, raw, defer_init)
            entry = (code, uses(env, source, name, filename))
            govmig_host_code.store(directory / key, entry)
        kept[key] = entry
        return entry[0]

    return compile_cached


def scanning_compile(directory: Path) -> Callable[[Any, str, str], CodeType]:
    """The ``compile`` of Mitogen's scan of a module's imports (``module_finder.scan``), with
    a cache in ``directory`` kept as the hosts keep theirs (``govmig_host_code``): each
    entry under a key of the source's content.

    Before it sends a module to a host, Mitogen compiles the module and every
    ``module_utils`` file it imports, to read their imports: again for each module of each
    run (``basic.py`` for every one). Compiling was nine tenths of the scan, 0.95 s of the
    controller's CPU for eight modules (6 December 2026)."""
    compile_cached = govmig_host_code.cached_compile(builtins.compile, directory)

    def compile_for_scan(source: Any, filename: str, mode: str) -> CodeType:
        # Mitogen's call inherits its module's __future__ imports, none of which changes
        # code on Python 3, and only the code's imports are read: compiled as a module is.
        code: CodeType = compile_cached(source, filename, mode, 0, True)
        return code

    return compile_for_scan


# Mitogen pins each process of a run to a CPU, as if the run were alone on the machine:
# its multiplexer to CPU 0, and on fewer than 4 CPUs the controller, every worker and
# their SSH clients to CPU 1 (the controller alone to CPU 1 on more). govmig runs
# several batches at once, and every run's processes took the same CPU: on 2 CPUs the
# other was left idle. The scheduler places them instead. Installed before the strategy
# starts, which assigns the controller and forks the multiplexer and the workers.
ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

# Installed before the strategy starts Mitogen's multiplexer, which forks from this process.
if (_directory := cache_dir()) is not None:
    _Responder = mitogen.master.ModuleResponder
    _Responder._build_tuple = cached(_Responder._build_tuple, _directory)
    mitogen.parent._get_core_source = cached_core_source(
        mitogen.parent._get_core_source,
        _directory,
        (mitogen.core.__file__, mitogen.minify.__file__),
    )

# Installed before the multiplexer forks: its dependency service scans the modules.
if (_scanned := cache_dir(SCANNED)) is not None:
    ansible_mitogen.module_finder.compile = scanning_compile(_scanned)

# Installed before the multiplexer starts: it connects to the hosts.
if os.environ.get("GOVMIG_HOST_CODE_CACHE", "1") != "0":
    _Contexts = ansible_mitogen.services.ContextService
    _Contexts._send_module_forwards = installing_host_code(
        _Contexts._send_module_forwards, HOST_CODE.read_text() + "\ninstall()\n"
    )

# Installed before the strategy's threads start, which look plugins up as they need them,
# and before remember_lookups, which wraps what it finds.
_loaders_lock = threading.RLock()
for _entry in LOADER_ENTRIES:
    setattr(PluginLoader, _entry, one_at_a_time(getattr(PluginLoader, _entry), _loaders_lock))

# Installed before the workers fork, which template and look their plugins up.
for _loader in (filter_loader, test_loader):
    remember_lookups(_loader)
for _loader in (module_loader, action_loader):
    remember_lookups(_loader, "find_plugin_with_context", name_and_options)

# Installed before the workers fork, which compile the templates.
if _jinja_bits is not None and (_templates := cache_dir(TEMPLATES)) is not None:
    _Environment = _jinja_bits.AnsibleEnvironment
    _Environment.compile = cached_compile(_Environment.compile, _templates)
    _Environment.compile_expression = compiling_expression(_Environment.compile_expression)

# Actions that only compute on the controller: no connection, no module, nothing to wait for.
COMPUTE_ONLY = frozenset(add_internal_fqcns(("set_fact", "assert", "fail", "debug")))


def runs_in_process(task: Any) -> bool:
    """Whether a task runs in the strategy's own process rather than a forked worker.

    A worker is a fork of ansible-playbook's large process: the fork, its copy-on-write
    faults and the worker's start cost about 30 ms of CPU, more than such a task's work.
    So a task whose action only computes runs here, one host after another, unless it
    may wait (``until``, a loop's ``pause``, a ``timeout``): that would hold up every host
    of the run. A lookup such a task makes runs here too."""
    loop_control = task.loop_control
    return (
        _RawTaskResult is not None
        and task.action in COMPUTE_ONLY
        and not task.until
        and not task.timeout
        and not (loop_control is not None and loop_control.pause)
    )


def govmig_names(*actions: str) -> frozenset[str]:
    """govmig's own actions or modules (``action_plugins/``, ``library/``), by each name a
    task may give them: its own, or the legacy collection's, where Ansible finds them."""
    return frozenset(name for action in actions for name in (action, f"ansible.legacy.{action}"))


# govmig's own actions that ask the network from the controller (``action_plugins/``): no
# connection, no module, but each waits on a host's answer.
ASKS_THE_NETWORK = govmig_names("govmig_http", "govmig_resolve", "govmig_reach", "govmig_nsupdate")


# Actions that run their module on the host over the task's connection, and do nothing
# else a process of their own is needed for (``govmig_helper``, ``govmig_install``: ``library/``).
RUNS_A_MODULE = frozenset(
    add_internal_fqcns(
        ("command", "shell", "copy", "file", "find", "lineinfile", "slurp", "stat", "uri")
    )
) | govmig_names("govmig_helper", "govmig_install")
# The connections a Mitogen strategy runs through Mitogen (``ssh`` as ``mitogen_ssh``...).
MITOGEN_CONNECTIONS = frozenset(ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS)


def runs_on_thread(task: Any, connection: object) -> bool:
    """Whether a task runs on a thread of the strategy's process rather than a forked worker.

    A check that asks the network, and a module run on a host over Mitogen (the
    ``connection`` the host's variables name), each waits on an answer, so it cannot run
    on the strategy's own thread, which every host of the run waits for; but the fork of
    a worker cost more than the rest of its work. On a thread it waits beside the others.
    Not with a task ``timeout``, which an alarm signal enforces (only the main thread
    receives one), nor ``throttle``, which the strategy enforces on the workers it uses,
    nor ``async``, whose job a worker starts and polls."""
    return (
        _RawTaskResult is not None
        and (
            task.action in ASKS_THE_NETWORK
            or (task.action in RUNS_A_MODULE and connection in MITOGEN_CONNECTIONS)
        )
        and not task.timeout
        and not task.throttle
        and not task.async_val
    )


class InProcessBinding:
    """Mitogen's connection to its multiplexer for the tasks run in this process: made once
    and kept open, where a worker makes one for its task and closes it with the task.

    A task's connection plugin asks Mitogen's worker model for it, which holds one broker
    (a thread) and one connection to the multiplexer per process, and closes both when the
    task's connection closes. Here tasks use it at once, from threads: it is made under a
    lock, by a broker that outlives the thread that made it (Mitogen's stops when that
    thread ends), and a task's close leaves it open. The strategy closes it before it
    forks a worker (a fork would copy the broker's locks, not its thread) and when the
    run ends. In a worker, Mitogen's own ways stand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        model = ansible_mitogen.process.ClassicWorkerModel
        self._get, self._close = model.get_binding, model.on_binding_close
        self._model: Any = None
        model.get_binding = lambda model, name: self._get_binding(model, name)
        model.on_binding_close = lambda model: self._on_binding_close(model)

    def _get_binding(self, model: Any, inventory_name: str) -> Any:
        if os.getpid() != self._pid:  # a worker's: as Mitogen makes it
            return self._get(model, inventory_name)
        with self._lock:
            if model.broker is None:
                model.broker = ansible_mitogen.process.Broker(install_watcher=False)
            self._model = model
            return self._get(model, inventory_name)

    def _on_binding_close(self, model: Any) -> None:
        if os.getpid() != self._pid:
            self._close(model)

    def close(self) -> None:
        """Close the binding, if one was made: before a fork, and at the run's end."""
        with self._lock:
            if self._model is not None:
                self._close(self._model)
                self._model = None


_in_process = InProcessBinding()


class ArrivingResults(collections.deque[Any]):
    """The strategy's queue of task results, with an event, ``ready``, set as each arrives
    and as the strategy takes each.

    Ansible's results thread appends each result there, and the strategy waiting for them
    polled the queue every ``internal_poll_interval`` (5 ms here), asking every worker's
    process whether it had died each time. ``_wait_on_pending_results`` waits for this
    event instead: in a run of 40 tasks on 6 local hosts, 1,206 sleeps where there were
    4,303, and 9.0 CPU-s where there were 9.3 (means of five alternating runs, 6 December
    2026). A result taken sets it too: the free loop takes results after its pass over the
    hosts, so the host a result frees gets its next task in the loop's next pass, which
    must not wait for yet another result (it held each task of a lone host back 0.1 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()

    def append(self, result: Any) -> None:
        super().append(result)
        self.ready.set()

    def popleft(self) -> Any:
        result = super().popleft()
        self.ready.set()
        return result


Base = ansible_mitogen.loaders.strategy_loader.get("free", class_only=True)
# What a host's facts hold while its downtime lasts (the role's contract with this strategy).
DOWNTIME_STARTED = "govmig_downtime_started_at"
DEFAULT_MAX_DOWN = 4  # the worker's (settings.DEFAULT_MAX_DOWN), for a run without govmig


def starts_downtime(task: Any) -> bool:
    """Whether ``task`` starts its host's downtime: it sets ``govmig_downtime_started_at``."""
    return task.action in COMPUTE_ONLY and DOWNTIME_STARTED in (task.args or {})


def in_downtime(facts: Mapping[str, Any]) -> bool:
    """Whether a host's ``facts`` say its downtime started and has not ended."""
    report = facts.get("govmig_report")
    ended = isinstance(report, Mapping) and "downtime_ms" in report
    return DOWNTIME_STARTED in facts and not ended


def gate(
    down: set[str], admitted: set[str], starting: list[str], max_down: int
) -> tuple[set[str], set[str]]:
    """Of the hosts ``starting`` their downtime next (in the run's order), those that may
    now and those held back, with ``down`` in theirs and ``admitted`` about to be."""
    room = max(0, max_down - len(down | admitted))
    return set(starting[:room]), set(starting[room:])


def max_down(env: Mapping[str, str] = os.environ) -> int:
    """How many hosts of a run may be in their downtime at once (``GOVMIG_MAX_DOWN``)."""
    text = env.get("GOVMIG_MAX_DOWN", "")
    if text.isdigit() and int(text) >= 1:
        return int(text)
    if text:
        display.warning(
            f"GOVMIG_MAX_DOWN is not a whole number from 1: {text!r}; using {DEFAULT_MAX_DOWN}"
        )
    return DEFAULT_MAX_DOWN


class AnnouncingEachTaskOnce:
    """A run's ``send_callback`` that announces each task once, when its first host starts it.

    The free loop announces a task (``v2_playbook_on_task_start``) again for every host,
    and ansible-runner makes each announcement an event of its own, written to a file and
    sent up the output to the orchestrator: a third of a batch's events said nothing new,
    and cost the loop, which serves every host, a twelfth of its time. A host's own events
    (``v2_runner_on_start`` and its result) name their task themselves."""

    def __init__(self, send: Callable[..., Any]) -> None:
        self._send = send
        self._announced: set[str] = set()

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "v2_playbook_on_task_start":
            if args[0]._uuid in self._announced:
                return None
            self._announced.add(args[0]._uuid)
        return self._send(name, *args, **kwargs)


class PausingUntilAResult:
    """``time`` for the free strategy's loop, whose ``sleep`` between two passes over the
    hosts ends when a task's result arrives or is taken (``ArrivingResults``), at the latest after
    ``DEAD_WORKER_CHECK_S``, and does not wait at all while no task's result is awaited
    (``awaiting``): Ansible's loop slept ``internal_poll_interval`` and passed over every
    host again, hundreds of times a second, while nothing had changed; and the pass that
    finds every host done, as one after a meta task, has no result to wait for."""

    def __init__(self, ready: threading.Event, awaiting: Callable[[], bool]) -> None:
        self.ready = ready
        self.awaiting = awaiting
        self.ran_out = 0  # pauses that waited the whole DEAD_WORKER_CHECK_S (-vvv says how many)

    def sleep(self, _seconds: float) -> None:
        if self.awaiting() and not self.ready.wait(DEAD_WORKER_CHECK_S):
            self.ran_out += 1
        self.ready.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def jumps_of(hosts: list[Any]) -> list[govmig_site.Jump]:
    """The jump hosts the ``hosts`` reach their site through (``govmig_jump``), each once;
    one of the wrong shape is left for the actions that use it to report."""
    jumps: dict[tuple[object, ...], govmig_site.Jump] = {}
    for host in hosts:
        with contextlib.suppress(ValueError):
            if jump := govmig_site.jump_of(host.vars):
                jumps.setdefault((*jump["argv"], jump["address"]), jump)
    return list(jumps.values())


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    """Mitogen's free strategy with a few hosts in their downtime at once; where the
    served modules come from differs, and the plugins of a task are looked up once per
    run rather than once per host."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._warmed: set[tuple[str, object]] = set()
        self._threads: list[threading.Thread] = []
        self._thread_slots = threading.BoundedSemaphore(max(1, len(self._workers)))
        # Before any task: Ansible's results thread, started by now, finds it at each result.
        self._results: ArrivingResults = ArrivingResults()
        self._max_down = max_down()
        # Hosts let into their downtime whose first task has not ended yet, and hosts
        # held back before theirs (marked blocked, so the free loop passes them by).
        self._admitted: set[str] = set()
        self._held: set[str] = set()
        warm_jinja_plugins()

    def run(self, iterator: Any, play_context: Any, result: int = 0) -> Any:
        """Make the shared login to each jump host of the play's hosts, then run the play:
        its connections, which start together, are then all channels of that one login.
        Each task is announced once (``AnnouncingEachTaskOnce``)."""
        for jump in jumps_of(self._inventory.get_hosts(iterator._play.hosts)):
            if why := govmig_site.log_in_first(jump):
                display.warning(f"{why}; each connection through it will log in itself")
        loop_globals = Base.run.__globals__  # where the free loop finds ``time``
        pause = PausingUntilAResult(self._results.ready, self._awaiting_results)
        loop_globals["time"] = pause
        self._tqm.send_callback = AnnouncingEachTaskOnce(self._tqm.send_callback)
        try:
            return super().run(iterator, play_context, result)
        finally:
            del self._tqm.send_callback  # its class's own again
            loop_globals["time"] = time
            self._join_threads()
            display.vvv(f"govmig_mitogen: the loop's pause ran out {pause.ran_out} times")

    def _awaiting_results(self) -> bool:
        return bool(self._pending_results > 0)

    def _execute_meta(self, task: Any, play_context: Any, iterator: Any, target_host: Any) -> Any:
        """A meta task (the implicit ``flush_handlers`` of a play's sections, an imported
        role's ``role_complete``) runs here and sends no result, and its host's next task is
        ready at once: the loop's next pass must not wait for some other host's result."""
        try:
            return super()._execute_meta(task, play_context, iterator, target_host)
        finally:
            self._results.ready.set()

    def get_hosts_left(self, iterator: Any) -> list[Any]:
        """The hosts left, those in their downtime first, each time the free loop passes
        over them; those that would start theirs beyond ``GOVMIG_MAX_DOWN`` held back."""
        hosts = super().get_hosts_left(iterator)
        for name in self._held:
            self._blocked_hosts[name] = False
        running = {name for name, blocked in self._blocked_hosts.items() if blocked}
        facts = self._variable_manager._nonpersistent_fact_cache
        # The next task of each host not running one (the loop's own pass peeks at them too).
        peek = iterator.get_next_task_for_host
        following = {h.name: peek(h, peek=True)[1] for h in hosts if h.name not in running}
        down = {
            h.name
            for h in hosts
            if in_downtime(facts.get(h.name, {}))
            and (h.name in running or following[h.name] is not None)
        }
        self._admitted &= running - down
        starting = [
            name
            for name, task in following.items()
            if task is not None and name not in down and starts_downtime(task)
        ]
        admitted, self._held = gate(down, self._admitted, starting, self._max_down)
        self._admitted |= admitted
        for name in self._held:
            self._blocked_hosts[name] = True
        return sorted(hosts, key=lambda host: host.name not in down)

    def _wait_on_pending_results(self, iterator: Any) -> list[Any]:
        """Ansible's wait for the results of the tasks queued, woken by each result as it
        arrives (``ArrivingResults``) rather than every ``internal_poll_interval``; it looks
        for a dead worker and a stopped run every ``DEAD_WORKER_CHECK_S`` meanwhile."""
        results: list[Any] = []
        while self._pending_results > 0 and not self._tqm._terminated:
            if self._tqm.has_dead_workers():
                raise AnsibleError("A worker was found in a dead state")
            self._results.ready.clear()  # what arrives from now on sets it again
            results.extend(self._process_pending_results(iterator))
            if self._pending_results > 0:
                self._results.ready.wait(DEAD_WORKER_CHECK_S)
        return results

    def _queue_task(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> Any:
        """Run a task that only computes here (``runs_in_process``), one that waits on a
        thread here (``runs_on_thread``); queue any other as Mitogen does, but look its
        plugins up only the first time.

        Before each fork Mitogen looks up the task's module, action and connection
        plugins, so that the worker inherits warm caches. The lookups depend on the
        action and the connection alone, and each globs the plugin directories: a
        tenth of the controller's time on a task that runs on the controller. The module
        is looked up by its legacy name too (``warm_legacy_modules``)."""
        if runs_in_process(task):
            return self._run_in_process(host, task, task_vars, play_context)
        key = (task.action, task_vars.get("ansible_connection") or play_context.connection)
        if runs_on_thread(task, key[1]):
            return self._run_on_thread(host, task, task_vars, play_context)
        self._join_threads()
        if key not in self._warmed:
            self._warmed.add(key)
            warm_legacy_modules(task.action)
            return super()._queue_task(host, task, task_vars, play_context)
        free = super(ansible_mitogen.strategy.StrategyMixin, self)  # Mitogen's lookups skipped
        return free._queue_task(host, task, task_vars, play_context)

    def _run_in_process(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> None:
        """Run a task here as a worker would (``WorkerProcess._run``), and queue its result
        as a worker does, for the strategy to process in turn."""
        if (own := self._prepare(host, task, task_vars, play_context)) is not None:
            self._execute(host, own, task_vars, play_context)
        self._pending_results += 1

    def _run_on_thread(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> None:
        """Run a task on a thread of this process as a worker would, at most as many at once
        as the run has forks; its result is queued as a worker's is.

        A fork copies whatever lock a thread holds at that moment (a logger's, the import
        lock), held forever in the child: no worker is forked until every thread has
        ended (``_join_threads``), and the broker of their Mitogen connection with them."""
        if (own := self._prepare(host, task, task_vars, play_context)) is not None:
            self._thread_slots.acquire()

            def run() -> None:
                try:
                    self._execute(host, own, task_vars, play_context)
                except BaseException as error:  # SystemExit too: the run waits for a result
                    self._send(host, own, _error_utils.result_dict_from_exception(error))
                finally:
                    self._thread_slots.release()

            thread = threading.Thread(target=run, name=f"govmig-task-{host.name}")
            self._threads.append(thread)
            thread.start()
        self._pending_results += 1

    def _join_threads(self) -> None:
        """Wait for every thread of ``_run_on_thread`` to end, and close the Mitogen connection
        they shared with its broker's thread: before a worker is forked, and at the run's end."""
        while self._threads:
            self._threads.pop().join()
        _in_process.close()

    def _prepare(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> Any:
        """Record a task queued for ``host``, as the strategy does for a worker, and make the
        worker's copy of it with its blocks (its own validation templates them for this
        host; the blocks' task lists are not needed); None, its failure sent, if it fails."""
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)
        try:
            return task.copy(exclude_tasks=True)
        except Exception as error:  # as a worker's: a failed task, not a failed run
            self._send(host, task, _error_utils.result_dict_from_exception(error))
            return None

    def _execute(self, host: Any, own: Any, task_vars: Any, play_context: Any) -> None:
        """Run the task copy ``own`` for ``host`` on a copy of its variables (the strategy
        reads them again with the result), and send its result as a worker does."""
        try:
            with _task.TaskContext(own):
                result = TaskExecutor(
                    host,
                    own,
                    dict(task_vars),
                    play_context,
                    self._loader,
                    plugin_loader.get_plugin_loader_namespace(),
                    self._final_q,
                    self._variable_manager,
                ).run()
        except Exception as error:  # as a worker's: a failed task, not a failed run
            result = _error_utils.result_dict_from_exception(error)
        self._send(host, own, result)

    def _send(self, host: Any, task: Any, result: Any) -> None:
        self._final_q.send_task_result(
            _RawTaskResult(host=host, task=task, return_data=result, task_fields=task.dump_attrs())
        )
