"""Constrained scalar types of the event contract: ids, labels, timestamps, extensions.

Every string that arrives from Kafka is bounded and pattern-checked here, before
any other layer sees it. Patterns use only syntax that pydantic's Rust regex,
Python's ``re`` and ECMAScript agree on, because the published JSON Schemas carry
them to producers in other languages.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BeforeValidator, Field, StringConstraints

from orchestrator.inventory.models import SLUG_PATTERN, SYSTEM_ID_PATTERN

# Event ids: UUIDs, content hashes and most producers' ids fit; no spaces, slashes or braces.
EVENT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN, max_length=128)]

# A URI-reference (RFC 3986) without quotes, brackets, parentheses, '$' or '*'.
URI_PATTERN: Final = r"^[A-Za-z0-9._~:/?#@!&+,;=%-]{1,256}$"
UriRef = Annotated[str, StringConstraints(pattern=URI_PATTERN, max_length=256)]

# The Kafka key: a system id or a node id, both DNS-label-like.
KEY_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN, max_length=63)]

# One printable line: no C0/C1 controls, no Unicode line or paragraph separators.
_LINE = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# None of the characters a shell, a template or a markup language would act on.
_UNSAFE = "\"'`$\\\\{}<>|;&"
# Who asked: a person or a tool. One line, nothing unsafe.
ACTOR_PATTERN: Final = f"^[^{_LINE}{_UNSAFE}]{{1,64}}$"
Actor = Annotated[str, StringConstraints(pattern=ACTOR_PATTERN, max_length=64)]
# A change reference (a ticket of the change process, e.g. CHG-2041): like an actor, and
# no space at either end, so the same ticket is always spelled the same.
_REF_END = rf"[^\s{_LINE}{_UNSAFE}]"
CHANGE_REF_PATTERN: Final = f"^{_REF_END}([^{_LINE}{_UNSAFE}]{{0,62}}{_REF_END})?$"
ChangeRef = Annotated[str, StringConstraints(pattern=CHANGE_REF_PATTERN, max_length=64)]
# Free text for people (a reason, an extension value): one bounded line.
LINE_PATTERN: Final = rf"^[^{_LINE}]+$"
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=LINE_PATTERN)]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=LINE_PATTERN)]

JSON_CONTENT_TYPE_PATTERN: Final = r"^application/json(; ?charset=(utf-8|UTF-8))?$"
JsonContentType = Annotated[str, StringConstraints(pattern=JSON_CONTENT_TYPE_PATTERN)]

Wave = Annotated[int, Field(strict=True, ge=1, le=999)]

# Lifecycle states and phases are constrained strings, not an enum, so the state
# machine can grow without a contract change; STATES lists today's values.
STATE_PATTERN: Final = r"^[a-z_]{1,32}$"
State = Annotated[str, StringConstraints(pattern=STATE_PATTERN)]
Phase = Annotated[str, StringConstraints(pattern=STATE_PATTERN)]
STATES: Final = (
    "registered",
    "queued",
    "placed",
    "preflight",
    "provisioning",
    "replicating",
    "ready",
    "rehearsing",
    "cutover",
    "verifying",
    "completed",
    "reverting",
    "finalizing",
    "finalized",
    "rolling_back",
    "rolled_back",
    "failed",
    "cancelled",
)
PHASES: Final = (
    "preflight",
    "provision",
    "replicate",
    "cutover",
    "verify",
    "rollback",
    "rehearse",
    "revert",
    "finalize",
)
# What a refused request asked for; constrained like states so new kinds are not breaking.
Request = Annotated[str, StringConstraints(pattern=STATE_PATTERN)]
REQUESTS: Final = (
    "register",
    "migrate",
    "cancel",
    "retry",
    "rollback",
    "revert",
    "rehearse",
    "finalize",
    "approve",
    "reject",
    "schedule",
    "place",
    "placement_failed",
    "start",
    "phase_succeeded",
    "phase_failed",
    "replicated",
    "start_cutover",
)

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339_only(value: Any) -> Any:
    """Refuse anything but an RFC 3339 string (or a datetime built in code).

    pydantic alone would also take Unix seconds and date-only strings, which
    CloudEvents' ``time`` does not allow.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) <= 40 and _RFC3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2024-05-01T08:00:00Z")


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]

# CloudEvents extension attributes: lowercase alphanumeric names of at most 20
# characters; values are the JSON forms of Boolean, Integer (32-bit) and String.
EXTENSION_NAME_PATTERN: Final = r"^[a-z0-9]{1,20}$"
MAX_EXTENSIONS: Final = 16
ExtensionName = Annotated[str, StringConstraints(pattern=EXTENSION_NAME_PATTERN)]
ExtensionValue = (
    Annotated[bool, Field(strict=True)]
    | Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)]
    | Annotated[str, StringConstraints(max_length=256, pattern=rf"^[^{_LINE}]*$")]
)
Extensions = Annotated[dict[ExtensionName, ExtensionValue], Field(max_length=MAX_EXTENSIONS)]

# What each pattern means, for messages: a regex is no help to the person who broke it.
PATTERN_HINTS: Final = {
    SYSTEM_ID_PATTERN: "must be a system id: lowercase letters, digits and inner hyphens, 1-63",
    SLUG_PATTERN: "must be a city or node id: a lowercase slug such as 'shantou'",
    EVENT_ID_PATTERN: "must be 1-128 letters, digits, '.', '_', ':' or '-'",
    URI_PATTERN: "must be a URI-reference without spaces, quotes, brackets, '$' or '*'",
    KEY_PATTERN: "must be a system or node id",
    ACTOR_PATTERN: "must be one line of 1-64 characters without quotes, '$', '\\', braces, "
    "'<', '>', '|', ';' or '&'",
    CHANGE_REF_PATTERN: "must be one line of 1-64 characters, no space at either end, without "
    "quotes, '$', '\\', braces, '<', '>', '|', ';' or '&'",
    LINE_PATTERN: "must be one line without control characters",
    JSON_CONTENT_TYPE_PATTERN: "must be application/json",
    STATE_PATTERN: "must be 1-32 lowercase letters or '_'",
    EXTENSION_NAME_PATTERN: "must be 1-20 lowercase letters or digits",
    r"^[^\x00-\x1f\x7f]+$": "must be one line without control characters",
}
