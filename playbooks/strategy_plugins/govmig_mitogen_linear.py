"""Ansible strategy: Mitogen's ``mitogen_linear``, with the modules it serves built once,
and no process pinned to a CPU.

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
entry stays right even if a module it imports changes.

The cache holds code that runs on every managed host, so it is trusted as the
code itself is: under the user's cache directory (``$XDG_CACHE_HOME``, else
``~/.cache``), in a directory of this user's that nobody else can write, or
not used at all.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ansible.release
import ansible_mitogen.affinity
import ansible_mitogen.loaders
import ansible_mitogen.strategy
import mitogen
import mitogen.core
import mitogen.master

Built = tuple[Any, ...]  # Mitogen's (fullname, pkg_present, path, compressed, related)
CACHE_NAME = ("govmig", "mitogen-modules")
# A host names the module it asks for: only a dotted Python name becomes a file name.
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


def cache_dir(env: Mapping[str, str] = os.environ) -> Path | None:
    """This installation's cache directory, created private; None if it is not ours alone."""
    versions = f"{sys.version}|{mitogen.__version__}|{ansible.release.__version__}|{sys.prefix}"
    name = hashlib.sha256(versions.encode()).hexdigest()[:16]
    try:
        root = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
        path = root.joinpath(*CACHE_NAME, name)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None
    private = info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return path if private else None


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
    try:
        # Trusted as the code is: a private directory of this user (cache_dir).
        record = marshal.loads((directory / fullname).read_bytes())  # noqa: S302
        path, stamp, pkg_present, compressed, related = record
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if _stamp(path, pkg_present is not None) != stamp:
        return None
    return (fullname, pkg_present, path, mitogen.core.Blob(compressed), related)


def store(directory: Path, built: Built) -> None:
    """Keep a module tuple Mitogen built; negative answers and ``__main__`` are not kept."""
    fullname, pkg_present, path, compressed, related = built
    stamp = _stamp(path, pkg_present is not None) if compressed is not None else None
    if stamp is None or fullname == "__main__":
        return
    record = (path, stamp, pkg_present, bytes(compressed), list(related))
    try:  # the directory may be gone (an operator cleared the cache): then keep nothing
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".entry-")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as entry:
            marshal.dump(record, entry)
        Path(temporary).replace(directory / fullname)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


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

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    """Mitogen's linear strategy; where the served modules come from differs, and the
    plugins of a task are looked up once per run rather than once per host."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._warmed: set[tuple[str, object]] = set()

    def _queue_task(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> Any:
        """Queue as Mitogen does, but look the task's plugins up only the first time.

        Before each fork Mitogen looks up the task's module, action and connection
        plugins, so that the worker inherits warm caches. The lookups depend on the
        action and the connection alone, and each globs the plugin directories: a
        tenth of the controller's time on a task that runs on the controller."""
        key = (task.action, play_context.connection)
        if key not in self._warmed:
            self._warmed.add(key)
            return super()._queue_task(host, task, task_vars, play_context)
        linear = super(ansible_mitogen.strategy.StrategyMixin, self)
        return linear._queue_task(host, task, task_vars, play_context)
