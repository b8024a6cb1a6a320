"""Check a data directory is the one a service serves, while clients may be writing to it.

Run by the roles' preflight (source) and verify (target), beside ``service.py``:
``python3 datacheck.py --data DIR --url http://ADDRESS:PORT/health [--attempts N]``.
It reads the directory's digest (``service.py``'s own ``data_checksum``), asks
the service for its health, and reads the digest again. The service serves
this directory when its checksum equals one of the two, and not when the
directory stood still and differs. A write between the reads changes it, so it
tries again, up to ``--attempts`` times; if it was written every time, the
directory the service names (its ``X-Data-Dir`` header) decides. Prints
one JSON object: ``match``, the service's ``checksum``, the directory's
``files`` and ``bytes``. Standard library and ``service.py`` only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from pathlib import Path


def digest(data_dir: Path) -> tuple[str, int, int]:
    """The directory's digest as the service computes it (``service.py``, which sits beside
    this script on every host it runs on), its number of files and their bytes."""
    from service import manifest

    found = manifest(data_dir)
    return found.checksum, found.files, found.bytes


def served(url: str) -> tuple[str, str | None]:
    """The service's checksum, and the directory it says it serves (None if it does not say)."""
    from service import ask

    where = urllib.parse.urlsplit(url)
    if where.hostname is None or where.port is None:
        raise ValueError(f"{url}: no host and port to ask")
    answer, serving = ask(where.hostname, where.port, where.path or "/", timeout=5)
    return str(answer.get("checksum", "")), serving


def check(data_dir: Path, url: str, attempts: int) -> dict[str, object]:
    """Match when the service's checksum equals the directory's read just before or after it.
    A directory that changed between the two reads is being written: after ``attempts``
    such reads, the service's own word on which directory it serves decides."""
    checksum, files, size, serving = "", 0, 0, None
    for attempt in range(attempts):
        before, files, size = digest(data_dir)
        checksum, serving = served(url)
        after, files, size = digest(data_dir)
        if checksum in (before, after):
            return _found(True, checksum, files, size)
        if before == after:  # still, and still different: another directory's data
            return _found(False, checksum, files, size)
        time.sleep(0.1 * (attempt + 1))
    same = serving is not None and Path(serving) == data_dir.resolve()
    return _found(attempts > 0 and same, checksum, files, size)


def _found(match: bool, checksum: str, files: int, size: int) -> dict[str, object]:
    return {"match": match, "checksum": checksum, "files": files, "bytes": size}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--attempts", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(check(args.data, args.url, args.attempts)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
