"""How the ssh role's controller-side actions reach the site: straight, or through its jump host.

The actions (``action_plugins/govmig_*.py``) ask the site's services and its DNS
server from the orchestrator. At a site whose hosts the orchestrator reaches
only through a bastion (the hosts inventory's ``ssh.jump_host``), it reaches
their addresses only through it too: then each connection is ``ssh -W`` to the
bastion, logged in as every host is (the same user, options and agent), and
the action speaks over that stream as it would over a TCP socket. The provider
says how, in the host variable ``govmig_jump``: ``{argv: [ssh and its options],
address: the bastion's}``; without it the actions connect straight.

Through a jump host a failed connection is an end of stream, not an error: the
bastion's refusal is on ssh's stderr, and ``UnreachableError`` carries it. An
action's error handling is the same either way: ``UnreachableError`` is an
``OSError``. A run's connections share one login to the bastion (the ssh
provider's ``JUMP_SHARING``), through which ssh says only that the bastion
refused the stream: a connection refused so asks again on a login of its own,
to say why.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # dnspython is imported by dns_exchange alone: the strategy needs none of it
    import dns.message

JUMP_VAR = "govmig_jump"
DNS_PORT = 53
_SSH_EXIT_S = 2.0
# A login ahead of a run's connections (``log_in_first``): ssh's own ConnectTimeout is 5 s.
LOGIN_TIMEOUT_S = 20.0
# What ssh says when the jump host refuses a stream asked through a shared login.
_SHARED_REFUSED = "Stdio forwarding request failed"

Jump = Mapping[str, Any]


class UnreachableError(OSError):
    """No stream to the address, or it ended before an answer: why, in words."""


def jump_of(task_vars: Mapping[str, Any] | None) -> Jump | None:
    """The site's jump host from the task's variables, or None to connect straight."""
    jump = (task_vars or {}).get(JUMP_VAR)
    if not jump:
        return None
    shaped = isinstance(jump, Mapping) and isinstance(jump.get("argv"), list)
    if not (shaped and jump.get("address")):
        raise ValueError(f"{JUMP_VAR} must be {{argv: [ssh, options...], address: ...}}")
    return jump


def described(jump: Jump | None) -> str:
    """Where a connection goes through, for a message: '' when straight."""
    return f" through the jump host {jump['address']}" if jump else ""


@contextlib.contextmanager
def stream(
    host: str, port: int, timeout: float, jump: Jump | None, *, explain: bool = True
) -> Iterator[socket.socket]:
    """A connected stream to ``host``:``port``, straight or through ``jump``.

    ``UnreachableError`` when it cannot be had, or when using it fails (an
    ``OSError``, or ``EOFError`` for an end before an answer) with why. Not
    ``explain``: a stream the jump host refused through the run's shared login is
    not asked again alone to say why (a login), for a check whose refusal is an
    answer, not a failure to explain.
    """
    where = f"{host} port {port}{described(jump)}"
    if jump is None:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise UnreachableError(f"{where}: {error}") from error
        with sock:
            try:
                yield sock
            except (OSError, EOFError) as error:
                raise UnreachableError(f"{where}: {error or 'the connection closed'}") from error
        return
    mine, its = socket.socketpair()
    argv = [*jump["argv"], "-W", f"[{host}]:{port}", str(jump["address"])]
    with mine:
        try:
            ssh = subprocess.Popen(argv, stdin=its, stdout=its, stderr=subprocess.PIPE)
        finally:
            its.close()
        mine.settimeout(timeout)
        try:
            yield mine
        except (OSError, EOFError) as error:
            mine.close()  # ssh sees the end of its input and leaves
            why = _failure(ssh) or str(error) or "the connection closed"
            if explain and _SHARED_REFUSED in why:  # through the shared login: no cause named
                why = _why_alone(argv, timeout) or why
            raise UnreachableError(f"{where}: {why}") from error
        finally:
            if ssh.poll() is None:  # done with it: no need to wait for the far end to close
                ssh.terminate()
            _failure(ssh)


def log_in_first(jump: Jump, timeout: float = LOGIN_TIMEOUT_S) -> str:
    """Make the run's shared login to ``jump`` now, before its connections start: why not,
    or '' (also when its connections share no login).

    The first connection through the jump host makes the shared login (ssh's
    ``ControlMaster=auto``), but connections that start together each find no login yet
    and each make one: a batch of three systems made three. A bastion's sshd also drops
    logins beyond its ``MaxStartups`` (ten at once, by default) before they authenticate.
    ``-f -N``: ssh leaves for the background once logged in, as the login the others share,
    which ends a minute after its last channel does, or with its run."""
    if "ControlMaster=auto" not in jump["argv"]:  # the ssh provider's JUMP_SHARING, or none
        return ""
    argv = [*jump["argv"], "-f", "-N", str(jump["address"])]
    # Not a pipe: the login in the background keeps ssh's stderr, and a pipe would not end.
    with tempfile.TemporaryFile() as err:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return f"no login to the jump host {jump['address']} within {timeout:g} s"
        if done.returncode == 0:
            return ""
        err.seek(0)
        said = _last_words(err.read()) or f"ssh exited {done.returncode}"
        return f"the jump host {jump['address']}: {said}"


def _failure(ssh: subprocess.Popen[bytes]) -> str:
    """Wait for ssh to leave, killing it if it does not; what it said on failing (the login,
    or the jump host's connection), in one line, or ''."""
    if ssh.returncode is not None:
        return ""
    try:
        _, err = ssh.communicate(timeout=_SSH_EXIT_S)
    except subprocess.TimeoutExpired:
        ssh.kill()
        ssh.communicate()
        return ""
    if ssh.returncode in (0, -signal.SIGTERM):
        return ""
    return _last_words(err) or f"ssh exited {ssh.returncode}"


def _why_alone(argv: list[str], timeout: float) -> str:
    """What the jump host says of the forward ``argv`` asks for, on a login of its own.

    A run's connections through the jump host share one login to it, and through that
    ssh says only that the jump host refused to open the stream, never why (no route,
    refused, timed out): the jump host says it to the shared login, which answers nobody.
    A check that failed so asks once more, alone, to say why."""
    alone = [argv[0], "-o", "ControlPath=none", *argv[1:]]  # ssh takes each option's first
    try:
        done = subprocess.run(
            alone, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout + _SSH_EXIT_S
        )
    except subprocess.TimeoutExpired:
        return ""
    return _last_words(done.stderr) if done.returncode != 0 else ""


def _last_words(err: bytes) -> str:
    """ssh's last two lines of stderr, in one: its failure, and what led to it."""
    lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
    return "; ".join(lines[-2:])


def greets(sock: socket.socket) -> None:
    """Wait for the far end's first bytes (an sshd greets first); ``EOFError`` if it closes."""
    if not sock.recv(1):
        raise EOFError("the connection closed before a greeting")


@contextlib.contextmanager
def dns_exchange(
    server: str, timeout: float, jump: Jump | None
) -> Iterator[Callable[[dns.message.Message], dns.message.Message]]:
    """``ask(message)``: its answer from ``server`` over TCP, every message on one connection."""
    import dns.query

    with stream(server, DNS_PORT, timeout, jump) as sock:
        sock.setblocking(False)  # dnspython waits on a given socket itself

        def ask(message: dns.message.Message) -> dns.message.Message:
            return dns.query.tcp(message, server, timeout=timeout, sock=sock)

        yield ask
