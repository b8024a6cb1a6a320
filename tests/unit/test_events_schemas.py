"""The published schemas match the models, and every example passes two independent validators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.data_files import SCHEMA_DIR
from orchestrator.events import EventType, decode_any, decode_document, encode, event_key
from orchestrator.events import reasons as reasons_module
from orchestrator.events.reasons import REASON_CODES
from orchestrator.events.schemagen import drift, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "events" / "examples"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def check_jsonschema(schema: Path, *instances: Path) -> subprocess.CompletedProcess[str]:
    assert CHECK_JSONSCHEMA.is_file(), "check-jsonschema is a dev dependency: pip install -e .[dev]"
    command = [str(CHECK_JSONSCHEMA), "--schemafile", str(schema), *map(str, instances)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_the_committed_schemas_match_the_models() -> None:
    assert drift(SCHEMA_DIR) == [], "run: python -m orchestrator.events.schemagen"


def test_check_mode_lists_missing_stale_and_leftover_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.count("out of date") == len(EventType)
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    stale = tmp_path / "gov.cloud.node.updated.json"
    stale.write_text(stale.read_text() + " ")
    (tmp_path / "gov.cloud.gone.json").write_text("{}")
    capsys.readouterr()
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "gov.cloud.node.updated.json" in out
    assert "gov.cloud.gone.json" in out
    main(["--dir", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.json" for k in EventType)


def test_there_is_one_example_per_type() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == sorted(EventType)


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_each_example_passes_check_jsonschema(kind: EventType) -> None:
    result = check_jsonschema(SCHEMA_DIR / f"{kind}.json", EXAMPLES / f"{kind}.json")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_each_example_passes_our_decoder_in_both_modes(kind: EventType) -> None:
    payload = (EXAMPLES / f"{kind}.json").read_bytes()
    event = decode_document(payload)
    assert event.type == kind
    structured = encode(event, mode="structured").as_record("govcloud.events")
    binary = encode(event, mode="binary").as_record("govcloud.events")
    assert decode_any(structured) == decode_any(binary) == event
    assert structured.key == event_key(event).encode()


BROKEN = {
    "shell-in-actor": ("gov.cloud.migration.requested", ("data", "requested_by"), "$(reboot)"),
    "extra-data-field": ("gov.cloud.migration.requested", ("data", "playbook"), "x.yml"),
    "bad-extension-name": ("gov.cloud.migration.requested", ("Trace_Parent",), "x"),
    "vcpu-zero": ("gov.cloud.system.registered", ("data", "vcpu"), 0),
    "wrong-type": ("gov.cloud.node.updated", ("type",), "gov.cloud.system.registered"),
    "state-caps": ("gov.cloud.system.status_changed", ("data", "to_state"), "DONE"),
    "wave-paused": ("gov.cloud.wave.status_changed", ("data", "state"), "paused"),
}


def test_check_jsonschema_and_our_decoder_refuse_the_same_broken_examples(tmp_path: Path) -> None:
    for name, (kind, path, value) in BROKEN.items():
        document = json.loads((EXAMPLES / f"{kind}.json").read_text("utf-8"))
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        broken = tmp_path / f"{name}.json"
        broken.write_text(json.dumps(document), encoding="utf-8")
        result = check_jsonschema(SCHEMA_DIR / f"{kind}.json", broken)
        assert result.returncode == 1, f"{name}: check-jsonschema accepted it"
        with pytest.raises(reasons_module.Rejection):
            decode_document(broken.read_bytes())


def test_every_reason_code_is_documented() -> None:
    readme = (SCHEMA_DIR / "README.md").read_text("utf-8")
    doc = reasons_module.__doc__ or ""
    for code in REASON_CODES:
        assert f"``{code}``" in doc
        assert f"`{code}`" in readme
