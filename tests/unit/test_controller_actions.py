"""The ssh role's controller-side actions (playbooks/action_plugins/): what each task
result says, on loopback sockets, straight and through a stand-in for a jump host. The lab
tests run them through Ansible on real hosts, and through a real bastion."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import dns.message
import dns.query
import dns.rdatatype
import dns.rrset
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


@contextmanager
def listening(greeting: bytes) -> Iterator[int]:
    """A loopback port that accepts connections and sends ``greeting`` on each (sshd's way)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()

        def serve() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = sock.accept()
                    conn.sendall(greeting)
                    threading.Timer(3, conn.close).start()

        threading.Thread(target=serve, daemon=True).start()
        yield sock.getsockname()[1]


def test_reach_waits_for_the_greeting_of_a_listening_port() -> None:
    with listening(b"SSH-2.0-OpenSSH_9.2\r\n") as port:
        assert action("govmig_reach").reach("127.0.0.1", port, 5) == {"reachable": True}


def test_reach_fails_on_a_port_that_accepts_but_does_not_greet() -> None:
    with listening(b"") as port:
        got = action("govmig_reach").reach("127.0.0.1", port, 1)
    assert got == {"failed": True, "reachable": False, "msg": f"127.0.0.1 port {port}: timed out"}


def test_reach_says_why_a_port_is_not_reachable() -> None:
    port = closed_port()
    got = action("govmig_reach").reach("127.0.0.1", port, 5)
    assert got["failed"] is True
    assert got["reachable"] is False
    assert got["msg"].startswith(f"127.0.0.1 port {port}: ")


# Through a jump host: fake_jump.py stands in for ``ssh -W`` to the bastion (the lab's
# test_ssh_hardened runs the real one), relaying each connection and logging where to.


def login(tmp_path: Path, body: str, *options: str) -> dict[str, Any]:
    """A jump host reached by a fake ssh of its own program (ssh's options come first), which
    logs its arguments to ``tmp_path / "argv"``, then runs the shell ``body``."""
    ssh = tmp_path / "ssh"
    ssh.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "argv"}\n{body}\n')
    ssh.chmod(0o755)
    return {"argv": [str(ssh), *options], "address": "10.0.0.22"}


@pytest.fixture
def jump(tmp_path: Path) -> dict[str, Any]:
    relay = Path(__file__).parents[1] / "fixtures" / "fake_jump.py"
    return {"argv": [sys.executable, str(relay), str(tmp_path / "relayed")], "address": "10.0.0.22"}


def relayed(jump: dict[str, Any]) -> list[str]:
    return Path(jump["argv"][-1]).read_text().splitlines()


def test_http_asks_through_the_jump_host(server: str, jump: dict[str, Any]) -> None:
    got = action("govmig_http").get(f"{server}/health", {"Host": "st-a.lab.test:8080"}, 5, jump)
    assert got["status"] == 200
    assert got["json"] == {"host": "st-a.lab.test:8080"}
    assert relayed(jump) == [server.removeprefix("http://")]


def test_http_through_the_jump_host_says_what_the_jump_host_said(jump: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/health"
    got = action("govmig_http").get(url, {}, 5, jump)
    assert got["status"] == -1
    assert got["msg"].startswith(f"no answer from {url}: 127.0.0.1 port ")
    assert "through the jump host 10.0.0.22: channel 0: open failed: connect failed:" in got["msg"]
    assert "refused" in got["msg"]


def test_a_stream_refused_through_the_runs_shared_login_is_asked_again_alone_to_say_why(
    tmp_path: Path,
) -> None:
    """Through a shared login ssh says only that the jump host refused; alone, it says why."""
    relay = Path(__file__).parents[1] / "fixtures" / "fake_jump.py"
    relaying = f'exec {sys.executable} {relay} "$@"'
    shared = login(tmp_path, relaying, "-o", "ControlMaster=auto", str(tmp_path / "log"))
    url = f"http://127.0.0.1:{closed_port()}/health"
    got = action("govmig_http").get(url, {}, 5, shared)
    assert got["status"] == -1
    assert "through the jump host 10.0.0.22: channel 0: open failed: connect failed:" in got["msg"]
    assert "Session open refused" not in got["msg"]
    # A check whose refusal is its answer does not ask again (a login of its own).
    unexplained = action("govmig_http").get(url, {}, 5, shared, explain=False)
    assert unexplained["status"] == -1
    assert unexplained["msg"].endswith(
        "through the jump host 10.0.0.22: Stdio forwarding request failed: Session open refused"
        " by peer"
    )


def test_reach_through_the_jump_host_needs_the_greeting(jump: dict[str, Any]) -> None:
    reach = action("govmig_reach").reach
    with listening(b"SSH-2.0-OpenSSH_9.2\r\n") as port:
        assert reach("127.0.0.1", port, 5, jump) == {"reachable": True}
    closed = closed_port()
    got = reach("127.0.0.1", closed, 5, jump)
    assert got["reachable"] is False
    assert got["msg"].startswith(f"127.0.0.1 port {closed} through the jump host 10.0.0.22: ")
    assert "open failed" in got["msg"]
    assert relayed(jump) == [f"127.0.0.1:{port}"]


class DnsAnswers(socketserver.BaseRequestHandler):
    """A DNS server over TCP: every A question answered 192.0.2.7, every other one empty."""

    def handle(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                query, _ = dns.query.receive_tcp(self.request)
                response = dns.message.make_response(query)
                question = query.question[0]
                if question.rdtype == dns.rdatatype.A:
                    rrset = dns.rrset.from_text(question.name, 60, "IN", "A", "192.0.2.7")
                    response.answer.append(rrset)
                dns.query.send_tcp(self.request, response)


def test_resolve_asks_both_questions_on_one_connection_through_the_jump_host(
    jump: dict[str, Any],
) -> None:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), DnsAnswers) as dns_server:
        threading.Thread(target=dns_server.serve_forever, args=(0.05,), daemon=True).start()
        site = action("govmig_resolve").govmig_site
        port = dns_server.server_address[1]
        with mock.patch.object(site, "DNS_PORT", port):
            got = action("govmig_resolve").resolve("127.0.0.1", "st-a.lab.test.", jump)
        dns_server.shutdown()
    assert got == {"ipv4": ["192.0.2.7"], "ipv6": [], "ttl": 60}
    assert relayed(jump) == [f"127.0.0.1:{port}"]


@pytest.mark.parametrize(
    "value",
    [{"argv": "ssh -W", "address": "10.0.0.22"}, {"argv": ["ssh"]}, ["ssh", "10.0.0.22"]],
)
def test_a_jump_host_variable_of_the_wrong_shape_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="govmig_jump must be"):
        action("govmig_http").govmig_site.jump_of({"govmig_jump": value})


def test_no_jump_host_variable_means_straight() -> None:
    site = action("govmig_http").govmig_site
    assert site.jump_of({}) is None
    assert site.jump_of(None) is None


# A run's shared login to the jump host, made before its connections start.


def test_the_shared_login_is_made_first_and_left_in_the_background(tmp_path: Path) -> None:
    """ssh -f leaves a process in the background holding its stderr: not waited for."""
    pid = tmp_path / "pid"
    jump = login(tmp_path, f"sleep 60 & echo $! > {pid}", "-o", "ControlMaster=auto")
    try:
        assert action("govmig_http").govmig_site.log_in_first(jump, timeout=30) == ""
    finally:
        os.kill(int(pid.read_text()), signal.SIGTERM)
    assert (tmp_path / "argv").read_text() == "-o ControlMaster=auto -f -N 10.0.0.22\n"


def test_no_login_is_made_first_for_connections_that_share_none(tmp_path: Path) -> None:
    jump = login(tmp_path, "exit 0", "-o", "ControlMaster=no")
    assert action("govmig_http").govmig_site.log_in_first(jump) == ""
    assert not (tmp_path / "argv").exists()


def test_a_failed_first_login_says_what_ssh_said(tmp_path: Path) -> None:
    said = "echo 'govmig-ops@10.0.0.22: Permission denied (publickey).' >&2; exit 255"
    jump = login(tmp_path, said, "-o", "ControlMaster=auto")
    assert action("govmig_http").govmig_site.log_in_first(jump) == (
        "the jump host 10.0.0.22: govmig-ops@10.0.0.22: Permission denied (publickey)."
    )


def test_a_first_login_that_hangs_is_given_up(tmp_path: Path) -> None:
    jump = login(tmp_path, "exec sleep 60", "-o", "ControlMaster=auto")
    why = action("govmig_http").govmig_site.log_in_first(jump, timeout=0.5)
    assert why == "no login to the jump host 10.0.0.22 within 0.5 s"


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
