"""Secrets are never written: one process-wide list of values masked wherever text leaves.

Whoever learns a secret registers it (``register``): the orchestrator its
Kafka SASL and SSL key passwords and its database password, the worker each
secret its provider hands a run (the SSH private key, the TSIG secret).
``redact`` masks every registered value in a text, plus anything assigned
to a ``govmig_secret_*`` name, and the log formatters pass every line through
it, so a library that logs its configuration (kafka-python does, at DEBUG)
cannot leak one either. A multi-line secret (a PEM key) is also registered
line by line, so a fragment of it is masked too.

Values shorter than ``MIN_SECRET`` are not registered: masking every "a" in a
log would destroy it and protect nothing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Final

MIN_SECRET: Final = 6
# A secret that shows up as "govmig_secret_x=value" or '"govmig_secret_x": "value"'.
_SECRET_ASSIGNMENT = re.compile(r"""(govmig_secret_\w+)(['"]?\s*[:=]\s*['"]?)([^\s'",}]+)""")
# The armour lines of a PEM block say what it is, not what it holds.
_PEM_ARMOUR = re.compile(r"^-----(BEGIN|END) [A-Z0-9 ]+-----$")

_lock = threading.Lock()
_known: dict[str, str] = {}  # value -> the name it is masked as
# The same, longest value first: read on every log line, rebuilt only on a registration.
_ordered: tuple[tuple[str, str], ...] = ()


def register(name: str, value: str | None) -> None:
    """Mask ``value`` (and each line of a multi-line one) as ``<redacted:name>`` from now on."""
    if not value:
        return
    global _ordered
    parts = [value, *(line.strip() for line in value.splitlines())]
    with _lock:
        for part in parts:
            if len(part) >= MIN_SECRET and not _PEM_ARMOUR.match(part):
                _known.setdefault(part, name)
        _ordered = tuple(sorted(_known.items(), key=lambda item: -len(item[0])))


def register_all(secrets: Mapping[str, str]) -> None:
    """``register`` each (name, value) of ``secrets``."""
    for name, value in secrets.items():
        register(name, value)


def redact(text: str, secrets: Mapping[str, str] | None = None) -> str:
    """``text`` with registered secrets, ``secrets`` and secret assignments masked.

    Known values are replaced longest first, so a secret containing another is
    masked whole; then any ``govmig_secret_<name>=<value>`` left over is masked
    by its name, to catch a value that reached the text in another form.
    """
    known = _ordered
    if secrets:  # rare (a playbook's messages): merge, still longest first
        given = [(value, name) for name, value in secrets.items() if value]
        known = tuple(sorted([*given, *_ordered], key=lambda item: -len(item[0])))
    for value, name in known:
        if value in text:
            text = text.replace(value, f"<redacted:{name}>")
    return _SECRET_ASSIGNMENT.sub(lambda m: f"{m[1]}{m[2]}<redacted>", text)


def forget_all() -> None:
    """Forget every registered secret (tests, and a process that re-reads its settings)."""
    global _ordered
    with _lock:
        _known.clear()
        _ordered = ()
