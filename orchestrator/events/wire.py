"""Bytes to CloudEvents attributes: the Kafka protocol binding, read defensively.

First step of decoding: one Kafka message (key, value, headers) becomes the
structured-mode attribute object, whatever mode it came in. Nothing here knows
the event types; ``codec`` validates the result against the models.

Mode detection follows the binding: a ``content-type`` of
``application/cloudevents+json`` means structured mode; otherwise ``ce_*``
headers mean binary mode. A message with neither is read as structured JSON,
because producers often cannot set headers (``application/json`` is accepted
there too). Headers other than ``content-type`` and ``ce_*`` are transport
metadata (tracing, the DLQ's reason) and are ignored, never copied into the event.

The SDK's ``from_kafka`` is not used for reading: it lets ``UnicodeDecodeError``,
``AttributeError`` and its own errors escape, keeps only the last of repeated
headers and accepts date-only ``time`` values; here every refusal is a ``Rejection``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from orchestrator.events.reasons import Rejection

CE_PREFIX: Final = "ce_"
CONTENT_TYPE: Final = "content-type"
STRUCTURED_TYPE: Final = "application/cloudevents+json"
JSON_TYPE: Final = "application/json"
DEFAULT_MAX_BYTES: Final = 256 * 1024

Headers = Sequence[tuple[str, bytes]]


def check_size(key: bytes | None, value: bytes | None, headers: Headers, max_bytes: int) -> None:
    """Refuse a message whose key, value and headers together exceed ``max_bytes``."""
    size = len(key or b"") + len(value or b"")
    for name, raw in headers:
        # An ASCII name's length is its size in bytes: only other names need encoding.
        named = len(name) if name.isascii() else len(name.encode("utf-8", "replace"))
        size += named + len(raw or b"")
    if size > max_bytes:
        raise Rejection("too_large", f"message is {size} bytes; the limit is {max_bytes}")


def decode_key(key: bytes | None) -> str | None:
    """The Kafka key as text, or None when the message has none."""
    return None if key is None else utf8(key, "the Kafka key")


def utf8(raw: bytes, what: str) -> str:
    """``raw`` decoded as UTF-8, or a ``bad_encoding`` rejection naming ``what``."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Rejection("bad_encoding", f"{what} is not UTF-8 (byte {error.start})") from None


def event_headers(headers: Headers) -> dict[str, str]:
    """The ``content-type`` and ``ce_*`` headers, names lowercased, values decoded.

    A repeated one is refused: Kafka allows it, but which copy counts would be a guess.
    """
    found: dict[str, str] = {}
    for name, raw in headers:
        lowered = name.lower()
        if lowered != CONTENT_TYPE and not lowered.startswith(CE_PREFIX):
            continue
        if lowered in found:
            raise Rejection("bad_attribute", f"header {name!r} appears more than once")
        # kafka-python hands a null header value as None, whatever its annotations say.
        try:
            found[lowered] = (raw or b"").decode("utf-8")
        except UnicodeDecodeError:  # the message is built only now: this runs for every header
            found[lowered] = utf8(raw or b"", f"header {name!r}")
    return found


def media_type(content_type: str) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


def is_binary(headers: dict[str, str]) -> bool:
    """Binary mode unless the content type says structured or no ``ce_`` header is present."""
    kind = media_type(headers.get(CONTENT_TYPE, ""))
    if kind.startswith("application/cloudevents"):
        if kind != STRUCTURED_TYPE:
            raise Rejection("bad_content_type", f"{kind!r} is not supported; use {STRUCTURED_TYPE}")
        return False
    # ce_specversion is required, so checking it first spares the scan for nearly every record.
    binary = "ce_specversion" in headers or any(name.startswith(CE_PREFIX) for name in headers)
    if kind not in ("", JSON_TYPE):
        raise Rejection("bad_content_type", f"data must be {JSON_TYPE}, not {kind!r}")
    return binary


def parse_json(value: bytes | None) -> Any:
    """One JSON document from ``value``: no NaN, no Infinity, no duplicate keys."""
    if not value:
        raise Rejection("empty", "the message has no value")
    text = utf8(value, "the value")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise Rejection("not_json", f"{where}: {error.msg}", line=error.lineno) from None
    except RecursionError:
        raise Rejection("not_json", "nesting is too deep") from None
    except ValueError as error:  # from the hooks, or an integer too long to convert
        raise Rejection("not_json", str(error)) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # The last copy would silently win in json.loads; an audit log must not be ambiguous.
    result = dict(pairs)  # built in C: this runs for every object of every record
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise ValueError(f"key {key!r} appears more than once")
            seen.add(key)
    return result


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is out of range")
    return number


# One decoder for every record: json.loads with hooks would build a new one each call.
_DECODER = json.JSONDecoder(
    parse_constant=_no_constants, parse_float=_finite, object_pairs_hook=_unique_keys
)


def parse_object(value: bytes | None, what: str) -> dict[str, Any]:
    """A JSON object from ``value``, or ``not_object`` naming ``what`` it should have been."""
    parsed = parse_json(value)
    if not isinstance(parsed, dict):
        raise Rejection("not_object", f"{what} must be a JSON object, not {_json_kind(parsed)}")
    return parsed


def structured_attributes(value: bytes | None) -> dict[str, Any]:
    """The attribute object of a structured-mode message."""
    attributes = parse_object(value, "the event")
    if "data_base64" in attributes:
        raise Rejection("bad_content_type", "data_base64 is not accepted; data must be JSON")
    return attributes


def binary_attributes(value: bytes | None, headers: dict[str, str]) -> dict[str, Any]:
    """The attribute object of a binary-mode message: ``ce_*`` headers plus the value as data."""
    attributes: dict[str, Any] = {}
    for name, text in headers.items():
        if name == CONTENT_TYPE:
            attributes["datacontenttype"] = text
            continue
        attribute = name.removeprefix(CE_PREFIX)
        if attribute in ("data", "data_base64", "datacontenttype"):
            # The binding carries these as the value and the content-type header.
            raise Rejection("bad_attribute", f"header {name!r} is not allowed in binary mode")
        attributes[attribute] = text
    attributes["data"] = parse_object(value, "data")
    return attributes


def record_attributes(value: bytes | None, headers: Headers) -> dict[str, Any]:
    """The structured-mode attribute object of one Kafka message, whichever its mode."""
    found = event_headers(headers)
    if is_binary(found):
        return binary_attributes(value, found)
    return structured_attributes(value)


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")
