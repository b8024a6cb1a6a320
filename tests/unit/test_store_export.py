"""The audit export's records and their offline verification: pure, no database."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from orchestrator.store.chain import GENESIS, Link, Problem, link_hash, verify_excerpt
from orchestrator.store.export import (
    EXPORT_FIELDS,
    ExportError,
    ExportFormat,
    export_record,
    read_export,
    write_export,
)

AT = datetime(2027, 1, 9, 1, 0, 0, 123456, tzinfo=UTC)


def content(system_id: str, reason: str | None, *, refused: bool = False) -> dict[str, object]:
    return {
        "system_id": system_id,
        "from_state": "registered",
        "to_state": None if refused else "queued",
        "refused": refused,
        "cause": "request_migration",
        "at": AT,
        "event_source": "govmig-cli",
        "event_id": "e-1",
        "actor": "bob",
        "reason": reason,
        "node": None,
        "requested_by": "bob",
        "downtime_seconds": 1.5,
        "bytes_sent": 10,
        "change_ref": None,
    }


def chain(system_id: str, reasons: list[str | None], first_id: int) -> list[Link]:
    links, prev = [], GENESIS
    for offset, reason in enumerate(reasons):
        body = content(system_id, reason, refused=offset % 2 == 1)
        digest = link_hash(body, prev)
        links.append(Link(first_id + offset, body, prev, digest))
        prev = digest
    return links


def test_a_record_says_who_what_when_and_result_in_both_zones() -> None:
    (link,) = chain("gz-tax", ["ok"], 7)
    record = export_record(link)
    assert tuple(record) == EXPORT_FIELDS
    assert record["at_utc"] == "2027-01-09T01:00:00.123456Z"
    assert record["at_shanghai"] == "2027-01-09T09:00:00.123456+08:00"
    assert (record["id"], record["result"], record["refused"]) == (7, "applied", False)
    refused = export_record(chain("gz-tax", ["a", "no"], 1)[1])
    assert (refused["result"], refused["to_state"]) == ("refused", None)


@pytest.mark.parametrize("form", list(ExportFormat))
def test_an_export_reads_back_to_the_same_links(form: ExportFormat) -> None:
    links = chain("gz-tax", ["ok", "", "\\odd", None], 1) + chain("sz-water", ["x"], 5)
    out = io.StringIO()
    assert write_export(links, form, out) == 5
    back = list(read_export(out.getvalue()))
    assert back == links
    report = verify_excerpt(back)
    assert (report.intact, report.chains, report.records) == (True, 2, 5)


def test_an_excerpt_starting_mid_chain_is_taken_as_given() -> None:
    assert verify_excerpt(chain("gz-tax", ["a", "b", "c"], 1)[1:]).intact


def test_an_altered_or_missing_record_is_named() -> None:
    links = chain("gz-tax", ["a", "b", "c"], 1)
    altered = [
        links[0],
        Link(2, {**links[1].content, "reason": "z"}, links[1].prev_hash, links[1].hash),
        links[2],
    ]
    (found,) = verify_excerpt(altered).breaks
    assert (found.record_id, found.problem) == (2, Problem.CONTENT)
    (found,) = verify_excerpt([links[0], links[2]]).breaks
    assert (found.record_id, found.problem, found.expected) == (3, Problem.LINK, links[0].hash)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{nope\n", "line 1: not a JSON object"),
        ('{"id": 1}\n', "line 1: missing field(s) system_id"),
        ("a,b\n", "line 1: not an audit export (neither JSON Lines nor its CSV header)"),
        (",".join(EXPORT_FIELDS) + "\n1,2\n", f"line 2: 2 fields, not {len(EXPORT_FIELDS)}"),
    ],
)
def test_a_malformed_export_names_its_line(text: str, message: str) -> None:
    with pytest.raises(ExportError) as raised:
        list(read_export(text))
    assert str(raised.value).startswith(message)
