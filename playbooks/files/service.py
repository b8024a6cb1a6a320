"""A business system's stand-in service for the ``local`` provider.

Sits at the very end of the pipeline: the playbooks copy this file into a
source or target directory and start it there (through ``svcctl.py``), and
the verify phase health-checks it through the name record. It is stdlib only
and knows nothing of govmig: it serves the data next to it.

By default it binds an ephemeral port on 127.0.0.1; on a lab host it binds
the system's own addresses instead (``--bind`` once per address, IPv4 or IPv6,
and ``--port``). It writes ``service.port`` and ``service.pid`` into its
directory (atomically, so a reader never sees half a number) and answers
``GET /health`` with the system id, where it runs and a checksum of its data:
the SHA-256 of the ``sha256sum``-format manifest of its ``data/`` directory,
the same bytes preflight writes to ``manifest.sha256``. ``PUT /data/NAME``
writes one file of data (a plain name, no path), so writes can be made
through the service while it runs.

A file's SHA-256 is kept in a digest cache keyed by the file's identity (its
relative path, inode, size, mtime and ctime in nanoseconds), in memory and in
``data.digests.json`` beside ``data/`` (never inside it, so neither rsync of
``data/`` nor the manifest sees it): only files whose identity changed are
hashed again, also by a fresh process (``svcctl.py``, ``datacheck.py``) that
reads the same file. The digest is the same with or without the cache; a
missing or unreadable cache means hashing every file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from types import FrameType

# The helpers (svcctl.py, datacheck.py) import this module for its digests only, in
# processes that start inside a cutover's downtime: what only serving needs (http.server,
# argparse, signal, socket) or only hashing on several threads needs (concurrent.futures)
# is imported where it is used, about half of such a process's start-up.

PORT_FILE = "service.port"
PID_FILE = "service.pid"
# A data file's name: no separator, no leading dot, so a PUT never leaves data/.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_PUT_BYTES = 64 * 1024 * 1024


# The digest cache beside a data directory: data/ -> data.digests.json.
DIGESTS_SUFFIX = ".digests.json"
DIGESTS_VERSION = 1
CHUNK = 1024 * 1024
# A file's digest is cached only once its ctime is this far behind the clock read
# before the file was hashed: a write in the same clock tick as our read could
# otherwise leave its identity unchanged. A kernel stamps file times from a clock
# that lags by at most a tick (10 ms at the slowest); a file system whose times are
# whole seconds (ctime_ns a multiple of 10**9) gets two seconds.
SETTLED_NS = 200_000_000
SETTLED_COARSE_NS = 2_000_000_000

# (inode, size, mtime_ns, ctime_ns) and the file's SHA-256, by relative path.
Entry = tuple[int, int, int, int, str]
# This process's cache of each data directory, and the cache file's (inode, size, mtime_ns)
# when this process last read or wrote it: another process's write changes it.
_caches: dict[Path, dict[str, Entry]] = {}
_stamps: dict[Path, tuple[int, int, int] | None] = {}
_cache_lock = threading.Lock()


def digests_path(data_dir: Path) -> Path:
    """Where ``data_dir``'s digest cache lives: beside it, never inside it."""
    data_dir = Path(data_dir).absolute()
    return data_dir.with_name(data_dir.name + DIGESTS_SUFFIX)


def load_digests(path: Path) -> dict[str, Entry]:
    """The persisted cache, or an empty one if it is missing, torn or not ours."""
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != DIGESTS_VERSION:
            return {}
        entries: dict[str, Entry] = {}
        for name, (ino, size, mtime, ctime, digest) in raw["files"].items():
            if not (isinstance(digest, str) and len(digest) == 64):
                return {}
            entries[str(name)] = (int(ino), int(size), int(mtime), int(ctime), digest)
        return entries
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save_digests(path: Path, entries: dict[str, Entry]) -> None:
    """Write the cache atomically (a unique temporary file, then a rename); a failure to
    write it (a full or read-only disk) is not an error: the next reader hashes more."""
    text = json.dumps({"version": DIGESTS_VERSION, "files": entries}, separators=(",", ":"))
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "w") as out:
                out.write(text)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError:
        return


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read a chunk at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def settled(st: os.stat_result, clock_ns: int) -> bool:
    """Whether a write after ``clock_ns`` would surely change the file's ctime."""
    coarse = st.st_ctime_ns % 1_000_000_000 == 0
    return st.st_ctime_ns < clock_ns - (SETTLED_COARSE_NS if coarse else SETTLED_NS)


def data_files(data_dir: Path) -> list[tuple[str, Path, os.stat_result]]:
    """Every file under ``data_dir`` (as ``Path.is_file`` finds them), sorted by relative
    path, with what ``stat`` says of it."""
    files: list[tuple[str, Path, os.stat_result]] = []
    for path in data_dir.rglob("*"):
        try:
            st = path.stat()
        except OSError:
            continue  # as Path.is_file: a dangling link is no file
        if stat.S_ISREG(st.st_mode):
            files.append((path.relative_to(data_dir).as_posix(), path, st))
    files.sort(key=lambda found: found[0])
    return files


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _hash_still(path: Path, key: tuple[int, int, int, int]) -> tuple[str, bool]:
    """A file's SHA-256, and whether it may be cached: it stood still while read (its
    identity still ``key``), and long enough before."""
    clock = time.time_ns()
    digest = file_sha256(path)
    try:
        after = path.stat()
    except OSError:
        return digest, False
    return digest, identity(after) == key and settled(after, clock)


def _hash_all(
    misses: list[tuple[Path, tuple[int, int, int, int]]], workers: int
) -> list[tuple[str, bool]]:
    """``_hash_still`` of each miss, in order; on ``workers`` threads (hashlib and file
    reads release the GIL, so each thread keeps a core busy)."""
    if workers <= 1 or len(misses) <= 1:
        return [_hash_still(path, key) for path, key in misses]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda miss: _hash_still(*miss), misses))


def _digests(data_dir: Path, cached: bool, workers: int) -> list[tuple[str, str, int]]:
    """(relative path, SHA-256, size) of every file under ``data_dir``, sorted by path."""
    files = data_files(data_dir)
    if not cached:
        return [(name, file_sha256(path), st.st_size) for name, path, st in files]
    where = digests_path(data_dir)
    known = _caches.get(where, {})
    # What another process (an index after a replicate pass, a check) wrote since this
    # one last read or wrote the file: its entries are candidates too.
    reread = where not in _stamps or _stamp(where) != _stamps[where]
    disk = load_digests(where) if reread else {}
    fresh: dict[str, Entry] = {}
    missed: list[tuple[str, Path, tuple[int, int, int, int]]] = []
    for name, path, st in files:
        key = identity(st)
        entry = next((e for e in (known.get(name), disk.get(name)) if e and e[:4] == key), None)
        if entry is not None:
            fresh[name] = entry
        else:
            missed.append((name, path, key))
    digests = {name: entry[4] for name, entry in fresh.items()}
    hashed = _hash_all([(path, key) for _, path, key in missed], workers)
    for (name, _, key), (digest, cacheable) in zip(missed, hashed, strict=True):
        digests[name] = digest
        # Only a file that stood still while read, and long enough before, is cached.
        if cacheable:
            fresh[name] = (*key, digest)
    _caches[where] = fresh
    if fresh != (disk if reread else known):
        save_digests(where, fresh)
        reread = True
    if reread:
        _stamps[where] = _stamp(where)
    return [(name, digests[name], st.st_size) for name, _, st in files]


class Manifest(NamedTuple):
    """The ``sha256sum`` listing of a data set, and the files and bytes it lists."""

    text: str
    files: int
    bytes: int

    @property
    def checksum(self) -> str:
        """One digest for the whole data set: the SHA-256 of its listing."""
        return hashlib.sha256(self.text.encode()).hexdigest()


def listing(data_dir: Path, *, cached: bool = True, workers: int = 1) -> list[tuple[str, str, int]]:
    """(relative path, SHA-256, size) of every file under ``data_dir``, sorted by path,
    from one walk.

    With ``cached`` (the default), a file whose identity is unchanged since it was last
    hashed (by this process or, through the cache beside ``data_dir``, another) is not read.
    The others are hashed on ``workers`` threads: one by default, as a serving host's
    other cores are its service's (``svcctl.py index --all-cores`` on an idle target).
    """
    with _cache_lock:
        return _digests(data_dir, cached, workers)


def manifest_of(found: list[tuple[str, str, int]]) -> Manifest:
    """The manifest of a ``listing``: its ``sha256sum`` text, files and bytes."""
    text = "".join(f"{digest}  {name}\n" for name, digest, _ in found)
    return Manifest(text, len(found), sum(size for _, _, size in found))


def manifest(data_dir: Path, *, cached: bool = True, workers: int = 1) -> Manifest:
    """The manifest of every file under ``data_dir`` (see ``listing``)."""
    return manifest_of(listing(data_dir, cached=cached, workers=workers))


def data_checksum(data_dir: Path, *, cached: bool = True) -> str:
    """The checksum the service answers: its data's manifest's."""
    return manifest(data_dir, cached=cached).checksum


def write_atomically(path: Path, text: str) -> None:
    """Write then rename, so a reader sees the old content or the new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def content_length(header: str | None) -> int:
    """The declared body length; -1 when it is missing or not a number."""
    try:
        return int(header or "")
    except ValueError:
        return -1


def ask(
    host: str, port: int, path: str = "/health", timeout: float = 5.0
) -> tuple[dict[str, object], str | None]:
    """A service's JSON answer to ``GET path`` on ``host`` (an IPv4 or IPv6 address, or a
    name) and the directory it says it serves (``X-Data-Dir``); OSError when it does not
    answer 200, ValueError when its answer is not a JSON object. (http.client, not urllib:
    a third less of a helper's start-up, inside a cutover's downtime.)"""
    import http.client

    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise OSError(f"GET {path} on {host}:{port} answered HTTP {response.status}")
        answer = json.load(response)
    except http.client.HTTPException as error:  # a torn answer (a service stopping, say)
        raise OSError(f"GET {path} on {host}:{port}: {error!r}") from error
    finally:
        connection.close()
    if not isinstance(answer, dict):
        raise ValueError(f"GET {path} on {host}:{port} answered no JSON object")
    return answer, response.getheader("X-Data-Dir")


def handler_for(system: str, location: str, data_dir: Path) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to this service's identity and data."""
    from http.server import BaseHTTPRequestHandler

    class Health(BaseHTTPRequestHandler):
        # A buffered writer: an answer leaves in one write when the request ends, so a
        # service stopped mid-answer (SIGTERM) sends it whole or not at all, never its
        # headers without its body.
        wbufsize = -1

        def do_GET(self) -> None:
            if self.path != "/health":
                self.send_error(404)
                return
            body = json.dumps(
                {
                    "system": system,
                    "location": location,
                    "status": "ok",
                    "checksum": data_checksum(data_dir),
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            # Which directory it serves, for a check that cannot rely on the checksum
            # while clients write (datacheck.py).
            self.send_header("X-Data-Dir", str(data_dir.resolve()))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            name = self.path.removeprefix("/data/")
            if not self.path.startswith("/data/") or not SAFE_NAME.fullmatch(name):
                self.send_error(404)
                return
            length = content_length(self.headers.get("Content-Length"))
            if not 0 <= length <= MAX_PUT_BYTES:
                self.send_error(411 if length < 0 else 413)
                return
            data_dir.mkdir(parents=True, exist_ok=True)
            tmp = data_dir.with_name(f".put-{name}.tmp")
            tmp.write_bytes(self.rfile.read(length))
            tmp.replace(data_dir / name)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            # Quiet: the service's stdout is /dev/null and requests are not news.
            return

    return Health


def bind(address: str, port: int, handler: type[BaseHTTPRequestHandler]) -> HTTPServer:
    """A server on ``address``: IPv6 if it has a colon, IPv4 otherwise."""
    import socket
    from http.server import HTTPServer

    class HTTPServerV6(HTTPServer):
        address_family = socket.AF_INET6

    server_class = HTTPServerV6 if ":" in address else HTTPServer
    return server_class((address, port), handler)


def main(argv: list[str]) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--system", required=True)
    parser.add_argument("--location", required=True)
    parser.add_argument("--bind", action="append", default=[], help="an address; repeatable")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    home: Path = args.dir.resolve()
    handler = handler_for(args.system, args.location, home / "data")
    first = bind((args.bind or ["127.0.0.1"])[0], args.port, handler)
    # Every further address shares the first one's port, even an ephemeral one.
    port = first.server_address[1]
    others = [bind(address, port, handler) for address in args.bind[1:]]

    def stop(signum: int, frame: FrameType | None) -> None:
        # serve_forever runs in this thread, so close the sockets and leave at once.
        for server in (first, *others):
            server.server_close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    write_atomically(home / PID_FILE, f"{os.getpid()}\n")
    write_atomically(home / PORT_FILE, f"{port}\n")
    for server in others:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    first.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
