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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import FrameType

PORT_FILE = "service.port"
PID_FILE = "service.pid"
# A data file's name: no separator, no leading dot, so a PUT never leaves data/.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_PUT_BYTES = 64 * 1024 * 1024


def manifest_text(data_dir: Path) -> str:
    """The ``sha256sum`` listing of every file under ``data_dir``, sorted by relative path."""
    names = sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file())
    return "".join(
        f"{hashlib.sha256((data_dir / name).read_bytes()).hexdigest()}  {name}\n" for name in names
    )


def data_checksum(data_dir: Path) -> str:
    """One digest for the whole data set: the SHA-256 of its manifest."""
    return hashlib.sha256(manifest_text(data_dir).encode()).hexdigest()


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


def handler_for(system: str, location: str, data_dir: Path) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to this service's identity and data."""

    class Health(BaseHTTPRequestHandler):
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


class HTTPServerV6(HTTPServer):
    address_family = socket.AF_INET6


def bind(address: str, port: int, handler: type[BaseHTTPRequestHandler]) -> HTTPServer:
    """A server on ``address``: IPv6 if it has a colon, IPv4 otherwise."""
    server_class = HTTPServerV6 if ":" in address else HTTPServer
    return server_class((address, port), handler)


def main(argv: list[str]) -> int:
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
