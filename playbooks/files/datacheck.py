"""Check a data directory is the one a service serves, while clients may be writing to it.

Run on the source host by the ``ssh`` role's preflight:
``python3 datacheck.py --data DIR --url http://ADDRESS:PORT/health [--attempts N]``.
It reads the directory's digest (``service.py``'s: the SHA-256 of the sorted
``sha256sum`` listing), asks the service for its health, and reads the digest
again. The service serves this directory when its checksum equals one of the
two: a write between them changes the directory, so it tries again, up to
``--attempts`` times. Prints one JSON object: ``match``, the service's
``checksum``, the directory's ``files`` and ``bytes``. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import urllib.request
from pathlib import Path


def digest(data_dir: Path) -> tuple[str, int, int]:
    """The directory's digest, its number of files and their bytes."""
    files = sorted(p for p in data_dir.rglob("*") if p.is_file())
    lines, size = [], 0
    for path in files:
        body = path.read_bytes()
        size += len(body)
        lines.append(
            f"{hashlib.sha256(body).hexdigest()}  {path.relative_to(data_dir).as_posix()}\n"
        )
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(files), size


def served_checksum(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the service's own address
        return str(json.load(answer).get("checksum", ""))


def check(data_dir: Path, url: str, attempts: int) -> dict[str, object]:
    found: dict[str, object] = {"match": False}
    for attempt in range(attempts):
        before, files, size = digest(data_dir)
        served = served_checksum(url)
        after, files, size = digest(data_dir)
        found = {
            "match": served in (before, after),
            "checksum": served,
            "files": files,
            "bytes": size,
        }
        if found["match"]:
            break
        time.sleep(0.1 * (attempt + 1))
    return found


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
