"""How the helpers ask a service (``service.ask``) and run calls at once (``svcctl.at_once``):
what ``svcctl.py start``, its ``quiesce`` and ``datacheck.py`` rely on, against a real HTTP
server on loopback."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import ModuleType

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from tests.fixtures.file_modules import load_file

FILES = PLAYBOOK_DIR / "files"
ANSWERS = {"/health": {"system": "s-1"}, "/list": ["not", "an", "object"]}


class Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in ANSWERS:
            self.send_error(404)
            return
        body = json.dumps(ANSWERS[self.path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Data-Dir", "/srv/govmig/s-1/data")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def helpers() -> Iterator[tuple[ModuleType, ModuleType]]:
    sys.path.insert(0, str(FILES))  # svcctl.py imports service.py, beside it
    try:
        yield load_file(FILES / "service.py"), load_file(FILES / "svcctl.py")
    finally:
        sys.path.remove(str(FILES))


def test_ask_returns_the_json_answer_and_the_directory_served(
    helpers: tuple[ModuleType, ModuleType], port: int
) -> None:
    service, _ = helpers
    assert service.ask("127.0.0.1", port) == ({"system": "s-1"}, "/srv/govmig/s-1/data")


def test_ask_refuses_an_error_status_an_answer_that_is_no_object_and_no_answer(
    helpers: tuple[ModuleType, ModuleType], port: int
) -> None:
    service, _ = helpers
    with pytest.raises(OSError, match="HTTP 404"):
        service.ask("127.0.0.1", port, "/missing")
    with pytest.raises(ValueError, match="no JSON object"):
        service.ask("127.0.0.1", port, "/list")
    with pytest.raises(OSError):
        service.ask("127.0.0.1", 1, timeout=1)  # nothing listens on port 1


def test_a_torn_answer_is_an_oserror_as_no_answer_is(
    helpers: tuple[ModuleType, ModuleType],
) -> None:
    """What a helper treats as "does not answer": a reply that is no HTTP at all."""
    service, _ = helpers
    listener = socket.create_server(("127.0.0.1", 0))

    def garble() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(1024)
            connection.sendall(b"not http\r\n\r\n")

    threading.Thread(target=garble, daemon=True).start()
    try:
        with pytest.raises(OSError, match="BadStatusLine"):
            service.ask("127.0.0.1", listener.getsockname()[1], timeout=5)
    finally:
        listener.close()


def test_at_once_runs_every_call_together_and_keeps_their_order(
    helpers: tuple[ModuleType, ModuleType],
) -> None:
    _, svcctl = helpers
    both_started = threading.Barrier(2, timeout=5)  # each call waits for the other

    def first() -> str:
        both_started.wait()
        time.sleep(0.05)
        return "first"

    def second() -> str:
        both_started.wait()
        return "second"

    assert svcctl.at_once([first, second]) == ["first", "second"]


def test_at_once_raises_a_calls_error_once_every_call_has_ended(
    helpers: tuple[ModuleType, ModuleType],
) -> None:
    _, svcctl = helpers
    ended: list[str] = []

    def fails() -> None:
        raise RuntimeError("rsync exit 23")

    def slow() -> None:
        time.sleep(0.1)
        ended.append("slow")

    with pytest.raises(RuntimeError, match="rsync exit 23"):
        svcctl.at_once([fails, slow])
    assert ended == ["slow"]
