"""``ansible-playbook``, started with a cache of the YAML that every start parses again.

Before its first task, every ``ansible-playbook`` parses the same large YAML documents
of ansible-core's own: its routing table (``ansible_builtin_runtime.yml``, 370 KB, 0.145
CPU-s) and the definitions of its settings (``base.yml``, 91 KB, 0.046 CPU-s). That is
a fifth of what a one-task playbook costs from start to end (1.08 CPU-s, 0.87 with this
cache; 6 December 2026). ``PhaseRunner`` therefore starts every run here, as::

    python govmig_playbook.py ansible-playbook ARGS...

which gives ``yaml.load`` a cache, then runs ``ansible-playbook`` as its own script
would run. A document is kept only when it is at least ``SMALLEST`` bytes and parsed by
a loader that makes plain data (PyYAML's safe or base loader, C or Python): marshalled,
in the user's private cache directory (``govmig_host_code.private_dir``:
``~/.cache/govmig/playbook-yaml/<versions>``), under a key of the loader and the
document's bytes, so a changed document is a new entry and never a stale one. Ansible's
own loader, which tags each value with its origin and its trust, parses as before, and
so does a document whose data marshal cannot keep (a date, say). Safe to delete.

Run as a script: ``PhaseRunner`` starts it under the orchestrator's interpreter, the
one ansible-core is installed for.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import marshal
import runpy
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import govmig_host_code  # beside this file: its private directories and their entries
import yaml

# Smaller documents (a playbook, a role's defaults) parse faster than an entry is found.
SMALLEST = 4096
PLAIN_LOADERS = frozenset(
    loader
    for name in ("SafeLoader", "BaseLoader", "CSafeLoader", "CBaseLoader")
    if (loader := getattr(yaml, name, None)) is not None
)


def cache_dir() -> Path | None:
    """This installation's directory of parsed documents (None: nothing is kept)."""
    versions = f"{sys.version}|{yaml.__version__}|{yaml.__with_libyaml__}"
    name = hashlib.sha256(versions.encode()).hexdigest()[:16]
    return govmig_host_code.private_dir("playbook-yaml", name)


def entry_key(document: str | bytes, loader: type) -> str:
    """The entry of ``document`` parsed by ``loader``: a ``bytes`` document may carry its
    own encoding and a ``str`` one may not, so the two never share an entry."""
    text = document if isinstance(document, bytes) else document.encode("utf-8", "surrogatepass")
    kind = b"bytes" if isinstance(document, bytes) else b"str"
    digest = hashlib.sha256()
    for part in (f"{loader.__module__}.{loader.__qualname__}".encode(), kind):
        digest.update(b"%d:" % len(part) + part)  # each part's length first: no two read alike
    digest.update(text)
    return digest.hexdigest()


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


def keep(path: Path, data: object) -> None:
    """Keep what a document parsed to, if marshal can keep all of it."""
    try:
        marshal.dumps(data)
    except ValueError:  # a date or another object marshal does not know
        return
    govmig_host_code.store(path, (data,))


def cached_load(load: Callable[..., Any], directory: Path) -> Callable[..., Any]:
    """``yaml.load`` that first looks in ``directory`` for a plain document's data."""

    def load_cached(stream: Any, Loader: Any = None) -> Any:  # noqa: N803 - yaml.load's name
        document = whole(stream) if Loader in PLAIN_LOADERS else None
        if document is None or len(document) < SMALLEST:
            return load(stream, Loader)
        path = directory / entry_key(document, Loader)
        match govmig_host_code.used(path, time.time()):
            case (data,):
                return data
        data = load(stream, Loader)
        keep(path, data)
        return data

    return load_cached


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
    # As Python starts the program itself: its own directory first on the path, not ours.
    sys.argv = [program, *argv[2:]]
    sys.path[0] = str(Path(program).parent)
    runpy.run_path(program, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
