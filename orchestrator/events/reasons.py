"""Why an event was refused: the reason codes and the one exception that carries them.

Every refusal in the event pipeline is a ``Rejection`` with a short machine code.
The codec raises it while decoding, the store and the state machine raise it
later, and the reactor dead-letters the message with the code in a header.
``govmig events validate`` prints it as ``FILE:LINE: code: message``.

Reason codes (``REASON_CODES`` holds the same text):

- ``too_large``: the message (key, value and headers) exceeds the size limit, 256 KiB by default.
- ``empty``: the message has no value: a tombstone or an empty payload.
- ``bad_encoding``: the key, a header or the value is not valid UTF-8.
- ``not_json``: the value is not one JSON document (a syntax error, NaN or Infinity, a
  duplicate key, a number too long, or nesting too deep).
- ``not_object``: the JSON is not an object (the envelope in structured mode, the data in
  binary mode).
- ``bad_content_type``: the content type is neither CloudEvents JSON nor JSON, or the data
  is sent as ``data_base64``.
- ``missing_attribute``: a required attribute is absent: ``specversion``, ``id``, ``source``,
  ``type`` or ``data``.
- ``bad_specversion``: ``specversion`` is not ``"1.0"``.
- ``unknown_type``: ``type`` is not one this consumer accepts (an outbound type sent inbound
  counts as unknown).
- ``bad_attribute``: an attribute is malformed (``id``, ``source``, ``time``, ``subject``,
  ``dataschema``, an extension), an attribute header is repeated or misnamed, or the subject
  is not the event's system id.
- ``schema``: ``data`` fails validation against the model of its type.
- ``key_mismatch``: the Kafka key, or the ``partitionkey`` attribute, is absent or is not the
  event's system id (the node id for ``gov.cloud.node.updated``, the platform id for
  ``gov.cloud.platform.*``).
- ``unknown_system``: the system id is not a registered system (the intake first holds a
  request for its registration, up to ``GOVMIG_REGISTRATION_WAIT_S``, and then says how
  long it waited).
- ``unknown_node``: the node id is not one of the inventory's city nodes.
- ``unknown_platform``: the platform id is not one of the inventory's 7 PRD platforms (a
  city node's id included: nodes are not connected, they are seeded).
- ``platform_not_connected``: a platform's first connect lacks its capacity or IPv6 prefix.
- ``platform_in_use``: a platform is disconnected, or its IPv6 prefix changed, while systems
  hold capacity on it (placed, moving or running there); the message says how many. Drain
  it and roll them back first.
- ``unknown_city``: the city id is not one of the inventory's cities.
- ``unknown_data_class``: a registered record's data class is not one the residency rules name.
- ``duplicate``: an event with this id was already processed (raised by the store).
- ``illegal_transition``: the request is not allowed in the system's current state (raised by
  the state machine).
- ``unprocessable``: the handler failed on this one event for good (a permanent error that
  is not one of the above); the rest of its batch was processed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from orchestrator.errors import PermanentError

REASON_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "too_large": "the message (key, value and headers) exceeds the size limit",
        "empty": "the message has no value: a tombstone or an empty payload",
        "bad_encoding": "the key, a header or the value is not valid UTF-8",
        "not_json": "the value is not one JSON document",
        "not_object": "the JSON is not an object",
        "bad_content_type": "the content type is not JSON, or data is sent as data_base64",
        "missing_attribute": "a required attribute (specversion, id, source, type, data) is absent",
        "bad_specversion": 'specversion is not "1.0"',
        "unknown_type": "type is not one this consumer accepts",
        "bad_attribute": "an attribute, attribute header or extension is malformed",
        "schema": "data fails validation against the model of its type",
        "key_mismatch": "the Kafka key or partitionkey is not the event's system (or node) id",
        "unknown_system": "the system id is not a registered system",
        "unknown_node": "the node id is not one of the inventory's city nodes",
        "unknown_platform": "the platform id is not one of the inventory's 7 PRD platforms",
        "platform_not_connected": "a platform's first connect lacks its capacity or IPv6 prefix",
        "platform_in_use": "a platform is disconnected while systems hold capacity on it",
        "unknown_city": "the city id is not one of the inventory's cities",
        "unknown_data_class": "the record's data class is not one the residency rules name",
        "duplicate": "an event with this id was already processed",
        "illegal_transition": "the request is not allowed in the system's current state",
        "unprocessable": "the handler failed on this event for good; the rest of its batch went on",
    }
)

MESSAGE_LIMIT: Final = 300


def printable(text: str, *, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` made safe for one terminal line: escapes control and format characters, truncates.

    Messages quote hostile input (field names, header names); an escape sequence or
    a bidi override must not reach an operator's terminal or a log line intact.
    """
    safe = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text[:limit]
    )
    if len(text) > limit or len(safe) > limit:
        return safe[:limit] + "…"
    return safe


class Rejection(PermanentError):  # noqa: N818 - "Rejection" is the name callers rely on
    """An event refused for good: retrying the same bytes cannot help.

    ``code`` is one of ``REASON_CODES``; ``message`` is one printable line.
    ``line`` optionally points inside the payload (a JSON syntax error's line).
    """

    def __init__(self, code: str, message: str, *, line: int | None = None) -> None:
        if code not in REASON_CODES:
            raise ValueError(f"unknown reason code {code!r}")
        self.code = code
        self.message = printable(message)
        self.line = line
        super().__init__(f"{code}: {self.message}")

    def __reduce__(self) -> tuple[type[Rejection], tuple[str, str]]:
        # Keeps rejections picklable (the default uses args, which hold the joined text).
        return (Rejection, (self.code, self.message))
