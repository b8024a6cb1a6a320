"""Reading inventory files from disk: the only I/O in the inventory package.

Turns a path into parsed data, or into an ``InventoryError`` that names the file
and says what is wrong with it as a whole: missing, not a regular file, too
large, not UTF-8, empty, an unsupported extension, or not valid YAML/JSON/CSV.
Duplicate keys in YAML and JSON are errors too: silently keeping the last one
would hide a typo; so is a date YAML reads but the calendar lacks (2027-02-30).
What the records mean is checked elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory.csvrows import (
    csv_field_name,
    extra_cells_problem,
    header_problems,
    row_to_record,
)
from orchestrator.inventory.problems import FieldNamer, dotted, raise_problems

MAX_FILE_BYTES = 64 * 2**20
FORMATS = {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}


@dataclass(frozen=True)
class RecordSet:
    """The raw records of one file, and how that file's authors name fields."""

    source: str
    records: Sequence[object]
    namer: FieldNamer = dotted


def read_records(path: Path) -> RecordSet:
    """The business-system records in a CSV, YAML or JSON file (chosen by extension)."""
    source = str(path)
    kind = file_format(path)
    text = read_text(path)
    if kind == "csv":
        return RecordSet(source, parse_csv(text, source=source), csv_field_name)
    document = parse_yaml(text, source=source) if kind == "yaml" else parse_json(text, source)
    return RecordSet(source, _record_list(document, source))


def read_yaml(path: Path) -> object:
    """One YAML document, such as the Ansible inventory ``hosts.yml``."""
    if file_format(path) != "yaml":
        raise InventoryError(f"{path}: unsupported extension {path.suffix!r} (expected .yml)")
    return parse_yaml(read_text(path), source=str(path))


def file_format(path: Path) -> str:
    """``csv``, ``json`` or ``yaml`` from the file's extension; anything else is an error."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InventoryError(
            f"{path}: unsupported extension {path.suffix or '(none)'!r}"
            " (expected .csv, .json, .yaml or .yml)"
        )
    return kind


def read_text(path: Path) -> str:
    """The file's text, refusing what cannot be an inventory before parsing it."""
    if not path.exists():
        raise InventoryError(f"{path}: file not found")
    if not path.is_file():
        raise InventoryError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InventoryError(f"{path}: file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InventoryError(f"{path}: not UTF-8 text (bad byte at offset {error.start})") from None
    if not text.strip():
        raise InventoryError(f"{path}: file is empty")
    return text


def parse_yaml(text: str, *, source: str) -> object:
    """Safe-load one YAML document, rejecting duplicate keys."""
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - _LOADER is a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        message = f"{error.problem or error.context}{where}"
    except (yaml.YAMLError, RecursionError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise InventoryError(f"{source}: not valid YAML: {message}")


def parse_json(text: str, source: str) -> object:
    """Parse JSON, rejecting duplicate keys."""
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as error:
        message = f"{error.msg} (line {error.lineno}, column {error.colno})"
    except (ValueError, RecursionError) as error:
        message = str(error) or type(error).__name__
    raise InventoryError(f"{source}: not valid JSON: {message}")


def parse_csv(text: str, *, source: str) -> list[dict[str, object]]:
    """Rows as nested records; a bad header or row shape is an error for the whole file."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [column.strip() for column in reader.fieldnames or ()]
        raise_problems(header_problems(header, source=source))
        reader.fieldnames = header
        rows = list(reader)
    except csv.Error as error:
        raise InventoryError(f"{source}: not valid CSV: {error} (line {reader.line_num})") from None
    raise_problems(
        extra_cells_problem(index, row, source=source)
        for index, row in enumerate(rows, start=1)
        if None in row
    )
    return [row_to_record(row) for row in rows]


def _record_list(document: object, source: str) -> Sequence[object]:
    """A list of records, or a mapping whose only key ``systems`` holds that list."""
    if isinstance(document, dict) and set(document) == {"systems"}:
        document = document["systems"]
    if not isinstance(document, list):
        raise InventoryError(f"{source}: must be a list of systems, or a mapping with 'systems'")
    return document


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _check_unique_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> None:
    seen: set[tuple[str, str]] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(key)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    _check_unique_keys(loader, node)
    return loader.construct_mapping(node)


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    """A date YAML recognises but the calendar lacks (2027-02-30) is an error with its line."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as error:
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date {node.value!r}: {error}", node.start_mark
        ) from None


def _strict(loader: type[Any]) -> None:
    """Refuse duplicate keys and impossible dates, with their line and column."""
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


class _StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and impossible dates."""


_strict(_StrictSafeLoader)
_LOADER: type[Any] = _StrictSafeLoader

if yaml.__with_libyaml__:  # the C parser loads the 500-system catalogue several times faster

    class _StrictCSafeLoader(yaml.CSafeLoader):
        """``yaml.CSafeLoader`` that refuses duplicate keys and impossible dates."""

    _strict(_StrictCSafeLoader)
    _LOADER = _StrictCSafeLoader
