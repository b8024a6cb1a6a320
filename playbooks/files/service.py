"""A business system's stand-in service for the ``local`` provider.

Sits at the very end of the pipeline: the playbooks copy this file into a
source or target directory and start it there (through ``svcctl.py``), and
the verify phase health-checks it through the name record. It is stdlib only
and knows nothing of govmig: it serves the data next to it.

It binds an ephemeral port on 127.0.0.1, writes ``service.port`` and
``service.pid`` into its directory (atomically, so a reader never sees half a
number) and answers ``GET /health`` with the system id, where it runs and a
checksum of its data: the SHA-256 of the ``sha256sum``-format manifest of its
``data/`` directory, the same bytes preflight writes to ``manifest.sha256``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import FrameType

PORT_FILE = "service.port"
PID_FILE = "service.pid"


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
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Quiet: the service's stdout is /dev/null and requests are not news.
            return

    return Health


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--system", required=True)
    parser.add_argument("--location", required=True)
    args = parser.parse_args(argv)
    home: Path = args.dir.resolve()
    server = HTTPServer(("127.0.0.1", 0), handler_for(args.system, args.location, home / "data"))

    def stop(signum: int, frame: FrameType | None) -> None:
        # serve_forever runs in this thread, so close the socket and leave at once.
        server.server_close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    write_atomically(home / PID_FILE, f"{os.getpid()}\n")
    write_atomically(home / PORT_FILE, f"{server.server_address[1]}\n")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
