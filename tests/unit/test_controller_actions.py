"""The ssh role's controller-side actions (playbooks/action_plugins/): what each task
result says, on loopback sockets. The lab tests run them through Ansible on real hosts."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from orchestrator.data_files import PLAYBOOK_DIR
from orchestrator.providers.ssh import TSIG_SECRET
from tests.fixtures.file_modules import load_file


def action(name: str) -> ModuleType:
    return load_file(PLAYBOOK_DIR / "action_plugins" / f"{name}.py")


class Answers(BaseHTTPRequestHandler):
    """/health: 200 with JSON naming the Host asked for; /down: 503; /text: 200, not JSON."""

    def do_GET(self) -> None:
        status, body = {
            "/health": (200, json.dumps({"host": self.headers["Host"]}).encode()),
            "/down": (503, b'{"healthy": false}'),
            "/text": (200, b"plain words"),
        }.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), Answers) as httpd:
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.shutdown()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_http_reads_the_json_answer_asked_by_name(server: str) -> None:
    got = action("govmig_http").get(f"{server}/health", {"Host": "st-a.lab.test:8080"}, 5)
    assert got == {
        "status": 200,
        "msg": f"HTTP 200 from {server}/health",
        "json": {"host": "st-a.lab.test:8080"},
        "failed": False,
    }


def test_http_fails_on_a_status_other_than_200_and_still_reads_its_json(server: str) -> None:
    got = action("govmig_http").get(f"{server}/down", {}, 5)
    assert got["failed"] is True
    assert got["status"] == 503
    assert got["json"] == {"healthy": False}


def test_http_gives_no_json_for_a_body_that_is_not(server: str) -> None:
    got = action("govmig_http").get(f"{server}/text", {}, 5)
    assert got["status"] == 200
    assert "json" not in got


def test_http_status_is_minus_one_when_nothing_answers() -> None:
    url = f"http://127.0.0.1:{closed_port()}/health"
    got = action("govmig_http").get(url, {}, 5)
    assert got["failed"] is True
    assert got["status"] == -1
    assert got["msg"].startswith(f"no answer from {url}: ")
    assert "refused" in got["msg"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/", "st-a.lab.test/health"])
def test_http_asks_only_http_urls(url: str) -> None:
    got = action("govmig_http").get(url, {}, 5)
    assert got == {"failed": True, "status": -1, "msg": f"not an http:// URL: {url}"}


def test_reach_connects_to_a_listening_port() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert action("govmig_reach").reach("127.0.0.1", port, 5) == {"reachable": True}


def test_reach_says_why_a_port_is_not_reachable() -> None:
    port = closed_port()
    got = action("govmig_reach").reach("127.0.0.1", port, 5)
    assert got["failed"] is True
    assert got["reachable"] is False
    assert got["msg"].startswith(f"127.0.0.1 port {port}: ")


def test_nsupdate_refuses_a_present_state_without_both_addresses() -> None:
    params = {"fence_only": False, "state": "present", "ipv4": "10.0.0.5", "ipv6": None}
    got = action("govmig_nsupdate").outcome(params, False)
    assert got == {"failed": True, "msg": "state is present but missing: ipv6"}


def test_nsupdate_reads_the_tsig_secret_from_its_variable_only() -> None:
    nsupdate = action("govmig_nsupdate")
    assert nsupdate.tsig_secret({"govmig_secret_tsig_key": "c2VjcmV0"}) == "c2VjcmV0"
    assert nsupdate.tsig_secret({"key_secret": "c2VjcmV0"}) is None
    assert nsupdate.tsig_secret({"govmig_secret_tsig_key": ""}) is None
    assert "key_secret" not in nsupdate.ARGUMENT_SPEC
    # The action reads the variable the ssh provider hands the secret over in.
    assert nsupdate.SECRET_VAR == TSIG_SECRET
