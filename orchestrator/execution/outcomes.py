"""What a batch run did to each system, read from ansible-runner's event stream.

Pure: ``runner.py`` feeds every runner event into an ``EventCollector`` and,
when the run ends, asks it for one ``HostOutcome`` per system; the phase worker
reads the outcomes and moves each system's state on its own. Failure
messages pass through ``redact`` first, so no ``govmig_secret_*`` value a
playbook handled can reach a status event, a log line or the state store.

A provider's role may also *report* what it measured or chose, by setting the
fact ``govmig_report`` (a flat mapping, e.g. the target host a provision
claimed, the bytes a replicate pass sent, whether verify reached the service
by name over IPv6). Only safe keys and plain values are kept (``clean_report``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.migrations.states import Phase
from orchestrator.redaction import redact

CANCELLED = "cancelled"
MAX_MESSAGE = 500
REPORT_FACT = "govmig_report"
_REPORT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_REPORT_TEXT = 200
ReportValue = str | int | bool


@dataclass(frozen=True, slots=True)
class HostOutcome:
    """How one system fared in one phase."""

    system_id: str
    ok: bool
    failed_task: str | None = None
    message: str | None = None
    unreachable: bool = False
    report: Mapping[str, ReportValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One phase run on one or more nodes: an outcome per system and where the evidence is."""

    phase: Phase
    nodes: tuple[str, ...]
    ident: str
    artifact_dir: Path
    rc: int
    status: str
    duration_s: float
    strategy: str
    outcomes: tuple[HostOutcome, ...]

    @property
    def ok(self) -> bool:
        """True when every system of the batch succeeded."""
        return all(outcome.ok for outcome in self.outcomes)

    def outcome(self, system_id: str) -> HostOutcome:
        """The outcome of one system of the batch."""
        for found in self.outcomes:
            if found.system_id == system_id:
                return found
        raise KeyError(system_id)


def clean_report(raw: object, secrets: Mapping[str, str]) -> dict[str, ReportValue]:
    """A role's ``govmig_report`` with only safe keys and plain values (strings redacted)."""
    if not isinstance(raw, Mapping):
        return {}
    kept: dict[str, ReportValue] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _REPORT_KEY.fullmatch(key):
            continue
        if isinstance(value, bool | int):
            kept[key] = value
        elif isinstance(value, str):
            kept[key] = redact(value, secrets)[:MAX_REPORT_TEXT]
    return kept


def failure_message(res: Mapping[str, Any]) -> str:
    """One line saying why a task failed, from its result."""
    message = str(res.get("msg") or "task failed")
    if res.get("assertion"):
        message = f"{message} (failed check: {res['assertion']})"
    stderr = str(res.get("stderr") or "").strip()
    if stderr:
        message = f"{message}: {stderr.splitlines()[-1]}"
    return " ".join(message.split())[:MAX_MESSAGE]


@dataclass
class EventCollector:
    """Keeps what the outcomes need from the runner's event stream, one event at a time."""

    secrets: Mapping[str, str] = field(default_factory=dict)
    failures: dict[str, HostOutcome] = field(default_factory=dict)
    reports: dict[str, dict[str, ReportValue]] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] | None = None
    host_events: int = 0
    # Why the run as a whole broke off, when no host could say (an execution host's stream).
    explanation: str | None = None

    def on_event(self, event: Mapping[str, Any]) -> bool:
        """ansible-runner's ``event_handler``: record, and keep the event in the artifacts."""
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            self.stats = {
                key: dict(data.get(key) or {}) for key in ("failures", "dark", "processed")
            }
        elif isinstance(kind, str) and kind.startswith("runner_on_"):
            self.host_events += 1
            self._record_failure(kind, data)
            self._record_report(kind, data)
        return True

    def _record_report(self, kind: str, data: Mapping[str, Any]) -> None:
        host = data.get("host")
        facts = (data.get("res") or {}).get("ansible_facts") or {}
        if kind != "runner_on_ok" or not isinstance(host, str) or REPORT_FACT not in facts:
            return
        self.reports.setdefault(host, {}).update(clean_report(facts[REPORT_FACT], self.secrets))

    def _record_failure(self, kind: str, data: Mapping[str, Any]) -> None:
        host = data.get("host")
        unreachable = kind == "runner_on_unreachable"
        failed = kind == "runner_on_failed" and not data.get("ignore_errors")
        if not isinstance(host, str) or not (failed or unreachable):
            return
        res = data.get("res") or {}
        self.failures[host] = HostOutcome(
            system_id=host,
            ok=False,
            failed_task=str(data.get("task") or "") or None,
            message=redact(failure_message(res), self.secrets),
            unreachable=unreachable,
        )

    def outcomes(
        self, system_ids: Sequence[str], *, status: str, rc: int
    ) -> tuple[HostOutcome, ...]:
        """One outcome per system, given how the run as a whole ended."""
        return tuple(self._outcome(sid, status=status, rc=rc) for sid in system_ids)

    def _outcome(self, system_id: str, *, status: str, rc: int) -> HostOutcome:
        # The closing stats are the last word: a failure that a rescue handled leaves
        # the host clean, and a host can be clean in a run another host failed.
        if self._clean_in_stats(system_id):
            return HostOutcome(system_id, ok=True, report=self.reports.get(system_id, {}))
        recorded = self.failures.get(system_id)
        if recorded is not None:
            return recorded
        message = _unfinished(status, rc)
        if self.explanation:
            message = f"{message}: {redact(self.explanation, self.secrets)}"[:MAX_MESSAGE]
        return HostOutcome(system_id=system_id, ok=False, message=message)

    def _clean_in_stats(self, system_id: str) -> bool:
        if self.stats is None:
            return False
        bad = self.stats["failures"].get(system_id, 0) + self.stats["dark"].get(system_id, 0)
        return bad == 0 and system_id in self.stats["processed"]


def _unfinished(status: str, rc: int) -> str:
    """Why a system has no result of its own."""
    if status == "canceled":
        return CANCELLED
    if status == "timeout":
        return "timed out before the phase finished"
    return f"no result: the playbook run ended with status {status} (rc={rc}) before this system"
