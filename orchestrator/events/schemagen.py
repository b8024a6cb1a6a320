"""Generates the published JSON Schemas, one per event type, from the envelope models.

``python -m orchestrator.events.schemagen`` writes ``events/schemas/<type>.json``;
``--check`` writes nothing and exits 1 listing the files that differ, so CI fails
when a model changes and its schema was not regenerated.

Each schema describes the structured-mode envelope as it is on the wire: the
models' ``extensions`` field is replaced by extension attributes beside the
standard ones (lowercase alphanumeric names, boolean, 32-bit integer or string
values). Rules that span fields (the subject and the Kafka key name what the
event is about, a node update changes something) are checked by the codec, not
the schema.
Output is stable: sorted keys, two-space indent, a final newline.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from orchestrator.data_files import SCHEMA_DIR
from orchestrator.events.envelope import EVENT_CLASSES, INBOUND_TYPES, EventType
from orchestrator.events.fields import EXTENSION_NAME_PATTERN, MAX_EXTENSIONS

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
# Each type's Kafka key where it is not the system id, as ``envelope.data_key`` chooses it.
_KEYS: Final = {
    EventType.NODE_UPDATED: "the node id",
    EventType.PLATFORM_CONNECTED: "the platform id",
    EventType.PLATFORM_DISCONNECTED: "the platform id",
    EventType.INTAKE_RESUME_REQUESTED: "intake",
    EventType.WAVE_RESUME_REQUESTED: "wave-N (the wave's number)",
    EventType.WAVE_STATUS_CHANGED: "wave-N (the wave's number)",
}


def event_schema(kind: EventType) -> dict[str, Any]:
    """The wire-form JSON Schema of one event type."""
    schema = EVENT_CLASSES[kind].model_json_schema(mode="validation")
    extensions = schema["properties"].pop("extensions")
    # pydantic states the value schema under the name pattern; on the wire it applies to
    # every attribute that is not a standard one.
    (value_schema,) = extensions["patternProperties"].values()
    schema["additionalProperties"] = value_schema
    schema["propertyNames"] = {"pattern": EXTENSION_NAME_PATTERN}
    schema["maxProperties"] = len(schema["properties"]) + MAX_EXTENSIONS
    if kind is EventType.INTAKE_RESUME_REQUESTED:
        direction = "inbound on govcloud.control"
    elif kind in INBOUND_TYPES:
        direction = "inbound on govcloud.events"
    else:
        direction = "outbound on govcloud.status"
    schema["$schema"] = DRAFT
    schema["$id"] = f"urn:govmig:events:{kind.value}"
    schema["title"] = kind.value
    schema["description"] = (
        f"{schema['description']}\n\nCloudEvents 1.0 structured-mode envelope, {direction}. "
        f"The Kafka key is {_KEYS.get(kind, 'the system id')}. "
        "Extension attributes sit beside the standard ones."
    )
    return schema


def render(kind: EventType) -> str:
    """The file text of one schema."""
    return json.dumps(event_schema(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> text, for every event type."""
    return {f"{kind.value}.json": render(kind) for kind in EventType}


def drift(directory: Path) -> list[Path]:
    """Files that are missing, stale, or left over from a type that no longer exists."""
    expected = expected_files()
    stale = [
        directory / name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    extra = [path for path in directory.glob("*.json") if path.name not in expected]
    return sorted(stale + extra)


def write(directory: Path) -> list[Path]:
    """Write every schema, remove leftovers; return the files that changed."""
    changed = drift(directory)
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    for path in changed:
        if path.name in expected:
            path.write_text(expected[path.name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.events.schemagen")
    parser.add_argument("--check", action="store_true", help="exit 1 if any file would change")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="default: events/schemas")
    options = parser.parse_args(argv)
    if options.check:
        stale = drift(options.dir)
        for path in stale:
            print(f"{path}: out of date; run python -m orchestrator.events.schemagen")
        return 1 if stale else 0
    for path in write(options.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
