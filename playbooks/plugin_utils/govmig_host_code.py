"""Keep the code a managed host's Mitogen interpreter compiles, as Python keeps ``__pycache__``.

Every run starts a Python interpreter on each host it logs in to (Mitogen's), sends it
the modules it imports as source (Ansible's ``module_utils``, Mitogen's own,
``ansible_mitogen``'s, the modules the tasks run) and that interpreter compiles them all
again: 0.15 s of the 0.38 s a four-task run's interpreter worked (``MITOGEN_PROFILING``,
5 December 2026). The strategy (``govmig_mitogen``) sends this file's source to
each interpreter before anything else, and ``install`` gives Mitogen's importer and
``ansible_mitogen``'s module runner a ``compile`` that first looks in a cache directory
of the host's user.

An entry's key is everything its code depends on: the interpreter's bytecode (its magic
number), the file name the code carries, the optimisation level, and the source itself,
so a changed module is a new entry and never a stale one. The directory is the user's own
(``~/.cache/govmig/host-code/<interpreter>``, or under ``$XDG_CACHE_HOME``), created
private; if another user could change it or a directory above it, or it cannot be made,
nothing is cached. An entry no run has used for 30 days is removed, at most once a day.
Safe to delete.

This runs on the host, under the host's own Python (3.7 and later, as the modules of
the ansible-core releases govmig allows): no newer syntax or library. On an older one its
source fails to compile, the host logs why, and nothing is cached.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib.util
import marshal
import os
import shutil
import stat
import sys
import tempfile
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

STALE_S = 30 * 24 * 3600  # an entry no run has used for this long is removed
DAY_S = 24 * 3600  # how often that is looked for, and how often a used entry is touched
PRUNED = ".pruned"  # its modification time: when entries were last looked over
TEMPORARY = ".entry-"  # an entry being written (a killed interpreter's is removed later)


def private_dir(*parts: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """``~/.cache/govmig/<parts>`` (``$XDG_CACHE_HOME`` for ``~/.cache``), created private
    and with symbolic links resolved; None if it cannot be made or others could change it
    (``trusted``). The strategy keeps its own caches so too."""
    try:
        root = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = root.joinpath("govmig", *parts)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = path.resolve()
        return path if trusted(path) else None
    except (OSError, RuntimeError, KeyError):  # RuntimeError, KeyError: no home to be found
        return None


def installation_dir(
    kind: str, versions: str, environ: Mapping[str, str] = os.environ
) -> Path | None:
    """The cache directory of ``kind`` for the installation ``versions`` describes (its
    interpreter, libraries, prefix: each has its own), ``private_dir``, marked used now.
    Another installation's directory of ``kind`` no run has used for ``STALE_S`` (one
    upgraded or removed) is removed, if it is this user's privately. The controller's
    caches (the strategy's, the launcher's) are made so."""
    name = hashlib.sha256(versions.encode()).hexdigest()[:16]
    path = private_dir(kind, name, environ=environ)
    if path is not None:
        with contextlib.suppress(OSError):
            os.utime(str(path))  # used now: its age tells other installations' runs it is not stale
            _remove_stale(path.parent, keep=path.name, now=time.time())
    return path


def _remove_stale(kind_dir: Path, keep: str, now: float) -> None:
    for entry in os.scandir(str(kind_dir)):
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if (
                entry.name != keep
                and stat.S_ISDIR(info.st_mode)
                and owned_privately(info)
                and now - info.st_mtime > STALE_S
            ):
                shutil.rmtree(entry.path)


def owned_privately(info: os.stat_result) -> bool:
    """Whether a directory is this user's, and nobody else's to write."""
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def trusted(path: Path) -> bool:
    """Whether nobody but this user and root could change what ``path`` holds: it is this
    user's own, and each directory above it is this user's or root's, and writable by
    nobody else unless sticky (as ``/tmp``: nobody else may move what is ours). Root's
    interpreter, started by sudo from a login user's, may be told that user's home: it
    must not run code that user could put there."""
    if not owned_privately(path.stat()):
        return False
    for parent in path.parents:
        info = parent.stat()
        shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX
        if info.st_uid not in (os.geteuid(), 0) or shared:
            return False
    return True


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """This interpreter's cache directory for the host's user (``private_dir``)."""
    return private_dir(
        "host-code", sys.implementation.cache_tag or sys.implementation.name, environ=environ
    )


def entry_key(source: str | bytes, filename: str, optimize: int) -> str:
    """The name of the entry of ``source``'s code (``content_key``)."""
    if optimize == -1:
        optimize = sys.flags.optimize
    return content_key(
        source,
        importlib.util.MAGIC_NUMBER,
        filename.encode("utf-8", "surrogatepass"),
        b"%d" % optimize,
    )


def content_key(source: str | bytes, *parts: bytes) -> str:
    """The name of an entry made from ``source`` under ``parts``: what else it depends on.
    A ``bytes`` source may declare its own encoding and a ``str`` one may not, so the two
    never share an entry. The launcher's cache names its entries so too."""
    text = source if isinstance(source, bytes) else source.encode("utf-8", "surrogatepass")
    kind = b"bytes" if isinstance(source, bytes) else b"str"
    digest = hashlib.sha256()
    for part in (*parts, kind):
        digest.update(b"%d:" % len(part) + part)  # each part's length first: no two read alike
    digest.update(text)
    return digest.hexdigest()


def read(path: Path) -> object:
    """The record ``store`` kept at ``path``; None when it is absent or damaged."""
    try:
        # Trusted as the code it is: a directory of this user's that nobody else may change
        # (private_dir).
        return marshal.loads(path.read_bytes())  # noqa: S302
    except (OSError, EOFError, ValueError, TypeError):
        return None


def store(path: Path, record: object) -> None:
    """Keep ``record`` at ``path`` whole or not at all: several processes write at once, and
    readers see the old entry or the new one. The strategy's caches are kept so too."""
    try:
        handle, temporary = tempfile.mkstemp(dir=str(path.parent), prefix=TEMPORARY)
    except OSError:  # the directory is gone (the cache was cleared): keep nothing
        return
    try:
        with os.fdopen(handle, "wb") as entry:
            marshal.dump(record, entry)
        Path(temporary).replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()


def load(path: Path, now: float) -> types.CodeType | None:
    """The code kept at ``path``, or None when it is absent or damaged (``used``)."""
    code = used(path, now)
    return code if isinstance(code, types.CodeType) else None


def used(path: Path, now: float) -> object:
    """The record kept at ``path``, or None when it is absent or damaged. A used entry is
    touched (once a day at most) so that it is not removed as stale."""
    record = read(path)
    if record is not None:
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > DAY_S:
                os.utime(path)
    return record


def cached_compile(compile_: Callable[..., Any], directory: Path) -> Callable[..., Any]:
    """``compile`` that first looks in ``directory`` for a module's code. Only what a module
    import compiles is kept: a whole source in ``exec`` mode, with no inherited or given
    ``__future__`` flags (Mitogen's importer and module runner compile so)."""

    def compile_cached(
        source: Any,
        filename: Any,
        mode: str,
        flags: int = 0,
        dont_inherit: bool = False,
        optimize: int = -1,
    ) -> Any:
        if (
            mode != "exec"
            or flags
            or not dont_inherit
            or not isinstance(source, (str, bytes))
            or not isinstance(filename, str)
        ):
            return compile_(source, filename, mode, flags, dont_inherit, optimize)
        path = directory / entry_key(source, filename, optimize)
        code = load(path, time.time())
        if code is None:
            code = compile_(source, filename, mode, flags, dont_inherit, optimize)
            store(path, code)
        return code

    return compile_cached


def prune(directory: Path, now: float) -> None:
    """Remove the entries no run has used for ``STALE_S``, and a killed interpreter's half
    written ones, if that was last done more than a day ago."""
    stamp = directory / PRUNED
    try:
        if now - stamp.stat().st_mtime < DAY_S:
            return
    except OSError:
        pass  # never pruned here
    stamp.touch()
    for entry in os.scandir(str(directory)):
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            age = now - info.st_mtime
            half_written = entry.name.startswith(TEMPORARY) and age > DAY_S
            stale = entry.name != PRUNED and (half_written or age > STALE_S)
            if stale and stat.S_ISREG(info.st_mode):
                Path(entry.path).unlink()


def install() -> bool:
    """Give Mitogen's importer and ``ansible_mitogen``'s module runner the cached ``compile``
    in this interpreter; whether there is a cache to use."""
    directory = cache_dir()
    if directory is None:
        return False
    with contextlib.suppress(OSError):
        prune(directory, time.time())
    compile_cached = cached_compile(builtins.compile, directory)
    import mitogen.core  # this interpreter's: its importer compiles each module it is sent

    mitogen.core.compile = compile_cached  # type: ignore[attr-defined]
    try:
        import ansible_mitogen.runner
    except ImportError:  # an interpreter that runs no Ansible module
        return True
    ansible_mitogen.runner.compile = compile_cached  # type: ignore[attr-defined]
    return True
