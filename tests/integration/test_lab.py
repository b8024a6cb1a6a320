"""The lab of real hosts, brought up and down through ``govmig lab`` as a user would.

One lab for the module: 2 nodes with 1 target each, 2 sources, in a temporary
directory. Needs root and the Debian packages of ``scripts/system-deps.sh``;
without them the tests fail (``lab up`` says what is missing), never skip.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest
from typer.testing import CliRunner

from orchestrator.cli import build_app
from orchestrator.devkafka.processes import is_alive
from orchestrator.errors import ConfigurationError
from orchestrator.inventory import load_inventory
from orchestrator.lab import Lab
from orchestrator.lab.daemons import LOGIN_SCRIPTS
from orchestrator.lab.layout import LabPaths, read_state
from orchestrator.lab.render import TSIG_KEY_NAME
from orchestrator.lab.topology import BRIDGE, ZONE
from orchestrator.providers.ssh_hosts import tsig_secret

app = build_app()

pytestmark = pytest.mark.lab

runner = CliRunner()
UP = ["lab", "up", "--nodes", "shantou,heyuan", "--per-node", "1", "--sources", "2"]
SYSTEM = "shantou-psb-001"
# This machine's own login scripts, read before any lab is up: a host masks them for itself.
MACHINE_SCRIPTS = {path: Path(path).read_bytes() for path in LOGIN_SCRIPTS if Path(path).is_file()}


def govmig(*args: str) -> Any:
    """Run the CLI in-process; fail with its output unless it exits 0."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lab up for the module; the last test takes it down and checks nothing is left."""
    root = tmp_path_factory.mktemp("lab") / "lab"
    try:
        govmig(*UP, "--lab-dir", str(root))
        yield root
    finally:
        if root.exists():  # a failure before the last test: still leave nothing behind
            runner.invoke(app, ["lab", "down", "--lab-dir", str(root)])


@pytest.fixture(scope="module")
def status(lab_dir: Path) -> dict[str, Any]:
    """``govmig lab status --output json``, parsed."""
    document: dict[str, Any] = json.loads(
        govmig("lab", "status", "--lab-dir", str(lab_dir), "--output", "json").output
    )
    return document


def host(status: dict[str, Any], name: str) -> dict[str, str]:
    found: dict[str, str] = next(h for h in status["hosts"] if h["name"] == name)
    return found


def ssh(lab_dir: Path, address: str, command: str) -> str:
    keys = lab_dir / "ssh"
    argv = ["ssh", "-i", str(keys / "id_ed25519"), "-o", f"UserKnownHostsFile={keys}/known_hosts"]
    argv += ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{address}", command]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=20).stdout


def test_a_second_up_with_the_same_options_changes_nothing(lab_dir: Path) -> None:
    assert "nothing changed" in govmig(*UP, "--lab-dir", str(lab_dir)).output
    other = runner.invoke(app, [*UP[:-1], "3", "--lab-dir", str(lab_dir)])
    assert other.exit_code != 0
    assert "run `govmig lab down` first" in str(other.exception or other.output)


def test_status_json_is_the_labs_interface(lab_dir: Path, status: dict[str, Any]) -> None:
    assert set(status) == {"inventory", "dns", "hosts"}
    assert status["inventory"] == str(lab_dir / "hosts.yml")
    assert Path(status["inventory"]).is_file()
    assert status["dns"] == {"ipv4": "10.213.0.53", "ipv6": "2001:db8:1000::53", "zone": ZONE}
    assert [(h["name"], h["role"], h["node"]) for h in status["hosts"]] == [
        ("dns", "dns", None),
        ("src-1", "source", None),
        ("src-2", "source", None),
        ("shantou-1", "target", "shantou"),
        ("heyuan-1", "target", "heyuan"),
    ]
    assert all(set(h) == {"name", "role", "node", "ipv4", "ipv6"} for h in status["hosts"])
    assert host(status, "shantou-1")["ipv6"] == "2001:db8:1:ffff::1"


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_root_logs_in_with_the_lab_key_and_strict_host_keys(
    lab_dir: Path, status: dict[str, Any], family: str
) -> None:
    target = host(status, "heyuan-1")
    assert target[family] in ssh(lab_dir, target[family], "ip -br addr show dev eth0")
    # The lab tells what each host's sshd accepted (the tests and bench.lab_wave count them).
    accepted = Lab(LabPaths.under(lab_dir), load_inventory()).logins()["heyuan-1"]
    assert accepted
    assert all(line.startswith("Accepted publickey for root from ") for line in accepted)


def test_each_host_has_its_own_disk(lab_dir: Path, status: dict[str, Any]) -> None:
    one, other = host(status, "src-1")["ipv4"], host(status, "shantou-1")["ipv4"]
    ssh(lab_dir, one, "echo mine > /srv/govmig/only-here")
    assert ssh(lab_dir, one, "cat /srv/govmig/only-here") == "mine\n"
    assert ssh(lab_dir, other, "ls -A /srv/govmig") == ""
    assert not Path("/srv/govmig/only-here").exists()
    # Root's Ansible directory too, where a run killed mid-task leaves its temp files.
    ssh(lab_dir, one, "mkdir -p ~/.ansible/tmp && echo mine > ~/.ansible/tmp/only-here")
    assert ssh(lab_dir, other, "ls -A ~/.ansible") == ""
    assert not Path("~root/.ansible/tmp/only-here").expanduser().exists()
    # What the tests and the chaos suite read of a host's disk, as its processes see it.
    lab = Lab(LabPaths.under(lab_dir), load_inventory())
    assert (lab.host_root("src-1") / "srv/govmig/only-here").read_text() == "mine\n"
    with pytest.raises(ConfigurationError, match=f"no lab host src-9 is up in {lab_dir}"):
        lab.host_root("src-9")


def test_a_hosts_shell_reads_none_of_this_machines_login_scripts(
    lab_dir: Path, status: dict[str, Any]
) -> None:
    """This machine's root may have a ``.bashrc`` (here: pyenv's shims first on PATH); a lab
    host's sshd runs commands as a fresh host's would."""
    target = host(status, "shantou-1")["ipv4"]
    sizes = ssh(lab_dir, target, f"cat {' '.join(LOGIN_SCRIPTS)} 2>/dev/null | wc -c")
    assert sizes.strip() == "0"
    assert ssh(lab_dir, target, "command -v python3").strip() == "/usr/bin/python3"
    assert all(Path(path).read_bytes() == before for path, before in MACHINE_SCRIPTS.items())


@pytest.mark.parametrize(("rdtype", "key"), [("A", "ipv4"), ("AAAA", "ipv6")])
def test_the_dns_server_answers_for_every_host(
    status: dict[str, Any], rdtype: str, key: str
) -> None:
    answer = resolve(f"shantou-1.{ZONE}", rdtype, status["dns"][key])
    assert answer == [host(status, "shantou-1")[key]]


def resolve(name: str, rdtype: str, server: str) -> list[str]:
    response = dns.query.udp(dns.message.make_query(name, rdtype), server, timeout=3)
    return [item.to_text() for rrset in response.answer for item in rrset]


@pytest.mark.parametrize(("secret", "expected"), [(None, "NOERROR"), ("d3Jvbmc=", "NOTAUTH")])
def test_only_an_update_signed_with_the_lab_key_is_accepted(
    lab_dir: Path, status: dict[str, Any], secret: str | None, expected: str
) -> None:
    secret = secret or tsig_secret((lab_dir / "dns" / "tsig.key").read_text())
    keyring = dns.tsigkeyring.from_text({TSIG_KEY_NAME: secret})
    update = dns.update.UpdateMessage(
        ZONE, keyring=keyring, keyname=dns.name.from_text(TSIG_KEY_NAME)
    )
    update.replace(f"probe-{expected.lower()}", 30, "A", "10.213.250.1")
    try:
        response = dns.query.tcp(update, status["dns"]["ipv4"], timeout=3)
        rcode = dns.rcode.to_text(response.rcode())
    except dns.tsig.PeerBadSignature:  # the server's refusal is itself signed with "our" key
        rcode = "NOTAUTH"
    assert rcode == expected
    found = resolve(f"probe-{expected.lower()}.{ZONE}", "A", status["dns"]["ipv4"])
    assert found == (["10.213.250.1"] if expected == "NOERROR" else [])


def test_a_seeded_system_answers_by_name_over_both_families(
    lab_dir: Path, status: dict[str, Any]
) -> None:
    seeded = json.loads(
        govmig("lab", "seed", SYSTEM, "--lab-dir", str(lab_dir), "--output", "json").output
    )
    assert [item["name"] for item in seeded] == [f"{SYSTEM}.{ZONE}"]
    assert seeded[0]["source"]["host"] in {"src-1", "src-2"}
    for rdtype, key in (("A", "ipv4"), ("AAAA", "ipv6")):
        (address,) = resolve(f"{SYSTEM}.{ZONE}", rdtype, status["dns"]["ipv4"])
        assert address == seeded[0]["source"][key]
        health = get_health(address)
        assert health["system"] == SYSTEM
        assert len(health["checksum"]) == 64


def get_health(address: str) -> dict[str, Any]:
    host_part = f"[{address}]" if ":" in address else address
    with urllib.request.urlopen(f"http://{host_part}:8080/health", timeout=5) as reply:
        document: dict[str, Any] = json.load(reply)
    return document


def test_a_put_through_the_service_changes_its_data(lab_dir: Path, status: dict[str, Any]) -> None:
    seeded = json.loads(
        govmig("lab", "seed", SYSTEM, "--lab-dir", str(lab_dir), "--output", "json").output
    )
    address = seeded[0]["source"]["ipv4"]
    before = get_health(address)["checksum"]
    request = urllib.request.Request(
        f"http://{address}:8080/data/x", data=b"written through the service", method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 204
    assert get_health(address)["checksum"] != before
    source = host(status, seeded[0]["source"]["host"])["ipv4"]
    listing = ssh(lab_dir, source, f"ls /srv/govmig/{SYSTEM}/data")
    assert "x" in listing.split()


def test_another_up_is_refused_while_this_lab_runs(lab_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-lab"
    result = runner.invoke(app, [*UP, "--lab-dir", str(other)])
    assert result.exit_code != 0
    assert "another lab runs on this machine (processes in govmig-" in str(result.exception)
    assert not (other / "lab.json").exists()
    govmig("lab", "status", "--lab-dir", str(lab_dir))  # and this one still runs


def test_down_leaves_nothing_behind(lab_dir: Path) -> None:
    state = read_state(LabPaths.under(lab_dir))
    assert state is not None
    pids = [*state.pids.values(), *(s.pid for s in state.systems.values() if s.pid)]
    govmig("lab", "down", "--lab-dir", str(lab_dir))
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "govmig-" not in namespaces
    assert not Path("/sys/class/net", BRIDGE).exists()
    assert not any(is_alive(pid) for pid in pids)
    assert not lab_dir.exists()
    status = runner.invoke(app, ["lab", "status", "--lab-dir", str(lab_dir)])
    assert status.exit_code != 0


def test_up_removes_a_dead_labs_network(tmp_path: Path) -> None:
    """What a killed run or a restored machine leaves: namespaces with nothing in them."""
    subprocess.run(["ip", "netns", "add", "govmig-src-1"], check=True)
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    root = tmp_path / "lab"
    try:
        up = govmig("lab", "up", "--nodes", "shantou", "--sources", "1", "--lab-dir", str(root))
        assert f"removed a dead lab's govmig-src-1, {BRIDGE}" in up.output
        govmig("lab", "status", "--lab-dir", str(root))  # exits 0 only if every host is up
    finally:
        govmig("lab", "down", "--lab-dir", str(root))
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "govmig-" not in namespaces


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--per-node", "0"], "lab up: --per-node: Input should be greater than or equal to 1"),
        (["--login-user", "Ops"], "lab up: --login-user: String should match pattern"),
        (["--ssh-port", "70000"], "lab up: --ssh-port: Input should be less than or equal to"),
        (["--sudo-password"], "lab up: a sudo password is for a login user other than root"),
    ],
    ids=["per-node", "user-name", "port", "sudo-password-for-root"],
)
def test_bad_options_are_refused_by_their_name_and_nothing_is_made(
    tmp_path: Path, options: list[str], message: str
) -> None:
    root = tmp_path / "lab"
    up = ["lab", "up", "--nodes", "shantou", *options, "--lab-dir", str(root)]
    result = runner.invoke(app, up)
    assert result.exit_code != 0
    assert message in str(result.exception)
    assert not root.exists()
