"""``ansible-playbook``, started with a cache of the YAML that every start parses again.

Before its first task, every ``ansible-playbook`` parses the same YAML documents of
ansible-core's own: its routing table (``ansible_builtin_runtime.yml``, 370 KB, 0.145
CPU-s), the definitions of its settings (``base.yml``, 91 KB, 0.046 CPU-s), and the
documentation of each plugin it loads that takes settings (a callback, a connection,
each inventory plugin it tries), to learn those settings. ``PhaseRunner`` therefore
starts every run here, as::

    python govmig_playbook.py ansible-playbook ARGS...

which gives ``yaml.load`` a cache, then runs ``ansible-playbook`` as its own script
would run. Only the documents parsed at ``CACHED_CALLERS`` are kept: code's own
documentation and ansible-core's data, never a user's (inventories, variables,
playbooks are parsed as before, so no secret is ever written here). Each is kept
pickled, as ``yaml.load`` returned it (Ansible's loader tags each value with its origin
and its trust, which are kept too), in the user's private cache directory
(``govmig_host_code.private_dir``: ``~/.cache/govmig/playbook-yaml/<versions>``), under
a key of the loader, the document's bytes and its tags, so a changed document is a new
entry and never a stale one. Safe to delete.

It also has the code of the modules in ``LAZY_MODULES`` run when first used rather than
when first imported: Mitogen's planner imports ``ansible.collections.list`` for a module that
lives in a collection, and with it ``ansible-galaxy``'s code (its API client, dependency
resolver, ``cryptography``): 118 ms of every run's start, for modules govmig's roles do
not use. A run that uses one imports it then.

And it ends the process as Python's exit would, but without freeing each of its objects
first (``exit_now``): a tenth of a one-task run, for memory about to be given back.

Run as a script: ``PhaseRunner`` starts it under the orchestrator's interpreter, the one
ansible-core is installed for.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import io
import os
import pickle
import runpy
import shutil
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import govmig_host_code  # beside this file: its private directories and their entries
import yaml

# Where the kept documents are parsed: (the end of the file's path, the function).
CACHED_CALLERS = frozenset(
    {
        ("ansible/utils/collection_loader/_collection_meta.py", "_meta_yml_to_dict"),
        ("ansible/config/manager.py", "_read_config_yaml_file"),
        ("ansible/plugins/loader.py", "_load_config_defs"),  # a plugin's DOCUMENTATION
        ("ansible/utils/plugin_docs.py", "add_fragments"),  # the fragments it extends
    }
)

# Imported where every run imports them, used only by a run that needs them.
LAZY_MODULES = ("ansible.collections.list",)


def cache_dir() -> Path | None:
    """This installation's directory of parsed documents (None: nothing is kept)."""
    import ansible.release  # its version only: Ansible's settings load with ansible.constants

    versions = f"{sys.version}|{yaml.__version__}|{ansible.release.__version__}|{sys.prefix}"
    return govmig_host_code.installation_dir("playbook-yaml", versions)


def entry_key(document: str | bytes, loader: type) -> str:
    """The entry of ``document`` parsed by ``loader`` (``govmig_host_code.content_key``).
    Ansible's tags on a document (its origin, its trust) are carried into what it parses
    to, so they are part of the key."""
    loader_name = f"{loader.__module__}.{loader.__qualname__}"
    tags = sorted(map(repr, _tags(document)))
    parts = (part.encode("utf-8", "surrogatepass") for part in (loader_name, *tags))
    return govmig_host_code.content_key(document, *parts)


def _tags(document: str | bytes) -> frozenset[object]:
    if type(document) in (str, bytes):
        return frozenset()
    # A tagged string: ansible-core made it, and has loaded its tags' module.
    from ansible.module_utils._internal._datatag import AnsibleTagHelper

    return frozenset(AnsibleTagHelper.tags(document))


def whole(stream: object) -> str | bytes | None:
    """The whole document ``stream`` holds, left where it was to be read; None for a
    stream that cannot be read twice."""
    if isinstance(stream, (str, bytes)):
        return stream
    if isinstance(stream, io.IOBase) and stream.seekable():
        start = stream.tell()
        document = stream.read()
        stream.seek(start)
        return document if isinstance(document, (str, bytes)) else None
    return None


def kept(path: Path) -> tuple[Any] | None:
    """What a document parsed to, kept at ``path``; None when absent or damaged."""
    record = govmig_host_code.used(path, time.time())
    if not isinstance(record, bytes):
        return None
    try:
        # Trusted as the code it is: a directory of this user's that nobody else may change
        # (private_dir), holding what this installation's own code parsed.
        return (pickle.loads(record),)  # noqa: S301
    except Exception:  # damaged, or made by a version since removed
        return None


def keep(path: Path, data: object) -> None:
    """Keep what a document parsed to, if it can be pickled."""
    try:
        record = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an object pickle cannot keep: parse it every time
        return
    govmig_host_code.store(path, record)


def cached_load(
    load: Callable[..., Any], directory: Path, callers: frozenset[tuple[str, str]] = CACHED_CALLERS
) -> Callable[..., Any]:
    """``yaml.load`` that first looks in ``directory`` for a document parsed at ``callers``."""

    def load_cached(stream: Any, Loader: Any = None) -> Any:  # noqa: N803 - yaml.load's name
        caller = sys._getframe(1).f_code  # who parses: only the callers' documents are kept
        known = any(
            caller.co_name == name and caller.co_filename.endswith(suffix)
            for suffix, name in callers
        )
        document = whole(stream) if known else None
        if document is None:
            return load(stream, Loader)
        path = directory / entry_key(document, Loader)
        found = kept(path)
        if found is not None:
            return found[0]
        data = load(stream, Loader)
        keep(path, data)
        return data

    return load_cached


class Deferred(types.ModuleType):
    """A module whose code runs when a name it defines is first looked up.

    Unlike ``importlib.util.LazyLoader``'s modules, looking at what the import system
    looks at (``__spec__``, each import of it) runs nothing."""

    def __getattr__(self, name: str) -> Any:  # only for a name the module lacks
        if name.startswith("__"):
            raise AttributeError(name)
        self.__class__ = types.ModuleType  # runs once: from now on, a module like any other
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def import_lazily(name: str) -> None:
    """Have the module ``name`` imported now and run when a name it defines is first used
    (``Deferred``); nothing if it is imported already."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)  # imports its packages, which are light
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = Deferred
    sys.modules[name] = module
    package, _, child = name.rpartition(".")
    setattr(sys.modules[package], child, module)  # as an import binds it in its package


def main(argv: list[str]) -> int:
    """Run ``argv[1:]``, an Ansible command, with the cache; its exit code."""
    if len(argv) < 2:
        print(f"usage: {argv[0]} ansible-playbook ARGS...", file=sys.stderr)
        return 2
    program = shutil.which(argv[1])
    if program is None:
        print(f"{argv[1]}: command not found", file=sys.stderr)
        return 127
    directory = cache_dir()
    if directory is not None:
        with contextlib.suppress(OSError):
            govmig_host_code.prune(directory, time.time())
        yaml.load = cached_load(yaml.load, directory)
    for name in LAZY_MODULES:
        import_lazily(name)
    # As Python starts the program itself: its own directory first on the path, not ours.
    sys.argv = [program, *argv[2:]]
    sys.path[0] = str(Path(program).parent)
    try:
        runpy.run_path(program, run_name="__main__")
    except SystemExit as end:
        return exit_code(end)
    return 0


def exit_code(end: SystemExit) -> int:
    """The exit code Python gives ``end``, its message (a string's) written as it would."""
    if end.code is None or isinstance(end.code, int):
        return end.code or 0
    print(end.code, file=sys.stderr)
    return 1


def exit_now(code: int) -> NoReturn:
    """End the process as Python's exit does (its other threads joined, its exit functions
    run, its output flushed) but without freeing each of its objects first: that teardown
    is a tenth of a one-task run (160 ms), for memory the process is about to give back."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv))
