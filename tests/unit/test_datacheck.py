"""``playbooks/files/datacheck.py``'s decision, with its reads faked (the real service and
directory are in ``tests/integration/test_playbooks.py``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file

FILES = PLAYBOOK_DIR / "files"


def load() -> ModuleType:
    sys.path.insert(0, str(FILES))  # it imports service.py, beside it
    try:
        return load_file(FILES / "datacheck.py")
    finally:
        sys.path.remove(str(FILES))


def faked(
    monkeypatch: pytest.MonkeyPatch, digests: list[str], checksum: str, serving: str | None
) -> ModuleType:
    datacheck = load()
    reads: Iterator[str] = iter(digests)
    monkeypatch.setattr(datacheck, "digest", lambda _dir: (next(reads), 3, 30))
    monkeypatch.setattr(datacheck, "served", lambda _url: (checksum, serving))
    monkeypatch.setattr(datacheck.time, "sleep", lambda _s: None)
    return datacheck


@pytest.mark.parametrize(
    ("digests", "checksum", "serving", "match"),
    [
        (["a", "a"], "a", None, True),  # still, and the same
        (["a", "b"], "b", None, True),  # a write, but the service read the later state
        (["a", "a"], "x", "/srv/d", False),  # still and different: another directory
        (["a", "b", "c", "d"], "x", "/srv/d", True),  # written every time: the service's word
        (["a", "b", "c", "d"], "x", "/srv/other", False),  # ... naming another directory
        (["a", "b", "c", "d"], "x", None, False),  # ... or none
    ],
    ids=["still", "written-then-read", "other-data", "written-same-dir", "written-other-dir",
         "written-unnamed"],
)  # fmt: skip
def test_the_service_serves_the_directory_when(
    monkeypatch: pytest.MonkeyPatch,
    digests: list[str],
    checksum: str,
    serving: str | None,
    match: bool,
) -> None:
    datacheck = faked(monkeypatch, digests, checksum, serving)
    found = datacheck.check(Path("/srv/d"), "http://x/health", attempts=2)
    assert found["match"] is match
