"""Ansible action: point a name at exactly these A and AAAA addresses, by a TSIG-signed update.

Run by the ``ssh`` role on the orchestrator: an RFC 2136 update over TCP to
the zone's primary, signed with HMAC-SHA256 through dnspython, every question
and update of the task on one connection, straight or through the site's jump
host (``plugin_utils/govmig_site.py``). Idempotent:
when the server already answers exactly these addresses with this TTL, nothing
is sent; after an update, the server is asked again, and the task fails unless
it answers them. A refused or badly signed update fails the task with the
server's answer.

The TSIG secret is read from the ``govmig_secret_tsig_key`` variable, never
passed as an argument: neither the task's arguments nor its result ever hold
it, so the task needs no ``no_log`` and its failures show their reason.
``state: absent`` deletes the name's A and AAAA records instead (nothing is
sent when it has none): the rehearsal's test name goes that way.

Fencing: with ``fence_generation`` the update carries a prerequisite that the
name's fence record (TXT ``_govmig-fence.<name>``) holds that generation, so
the DNS server itself refuses the switch of a stale run (a run of an older
lease claim) once a newer run has claimed the fence. ``fence_only`` claims it:
it moves the fence to this run's generation by compare-and-swap, and fails if
the fence is already past it.

An action, not a module: it runs inside the controller's worker, so the update
needs no connection to localhost, and the TSIG secret goes into no module payload.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.update
from ansible.plugins.action import ActionBase

sys.path.append(str(Path(__file__).resolve().parents[1] / "plugin_utils"))  # last: shadows nothing
import govmig_site  # shared by the role's actions: plugin_utils/, beside them

DOCUMENTATION = r"""
action: govmig_nsupdate
short_description: Replace a name's A and AAAA records with a TSIG-signed RFC 2136 update
options:
  server: {description: the zone's primary server (an address), required: true, type: str}
  zone: {description: the zone, required: true, type: str}
  name: {description: the label inside the zone, required: true, type: str}
  ipv4: {description: "the A record's address (unless fence_only)", type: str}
  ipv6: {description: "the AAAA record's address (unless fence_only)", type: str}
  ttl: {description: the records' TTL in seconds, required: true, type: int}
  key_name: {description: the TSIG key's name, required: true, type: str}
  algorithm: {description: TSIG algorithm, type: str, default: hmac-sha256, choices: [hmac-sha256]}
  fence_generation: {description: the run's lease generation (fencing token), type: int}
  fence_only: {description: only claim the fence for fence_generation, type: bool, default: false}
  state: {description: "present: the name has these addresses; absent: it has no A nor AAAA",
          type: str, default: present, choices: [present, absent]}
"""

_TIMEOUT_S = 5.0
SECRET_VAR = "govmig_secret_tsig_key"  # noqa: S105 - a variable's name, not a secret


def answer(params: dict[str, Any], label: str, rdtype: str) -> list[dns.rrset.RRset]:
    """The server's answer for ``label`` in the zone and ``rdtype``: its RRsets of that type."""
    fqdn = dns.name.from_text(label, dns.name.from_text(params["zone"]))
    query = dns.message.make_query(fqdn, rdtype)
    response = params["ask"](query)
    wanted = dns.rdatatype.from_text(rdtype)
    return [rrset for rrset in response.answer if rrset.rdtype == wanted]


def current(params: dict[str, Any]) -> dict[str, tuple[set[str], int]]:
    """What the server answers now for the name: addresses and TTL, per record type."""
    found: dict[str, tuple[set[str], int]] = {}
    for rdtype in ("A", "AAAA"):
        for rrset in answer(params, params["name"], rdtype):
            found[rdtype] = ({item.to_text() for item in rrset}, rrset.ttl)
    return found


def fence_name(params: dict[str, Any]) -> str:
    """The fence record's label: beside the name, so it moves with nothing else."""
    return f"_govmig-fence.{params['name']}"


def fence_text(generation: int) -> str:
    return f'"generation={generation}"'


def current_fence(params: dict[str, Any]) -> int | None:
    """The generation the name's fence holds now, or None if it has none."""
    for rrset in answer(params, fence_name(params), "TXT"):
        for item in rrset:
            text = b"".join(item.strings).decode()
            if text.startswith("generation="):
                return int(text.removeprefix("generation="))
    return None


def new_update(params: dict[str, Any]) -> dns.update.UpdateMessage:
    keyring = dns.tsigkeyring.from_text({params["key_name"]: params["key_secret"]})
    return dns.update.UpdateMessage(
        params["zone"],
        keyring=keyring,
        keyname=dns.name.from_text(params["key_name"]),
        keyalgorithm=params["algorithm"],
    )


def claim_fence(params: dict[str, Any], held: int | None) -> str:
    """Move the fence from ``held`` to this run's generation, only if it still holds ``held``."""
    update = new_update(params)
    if held is None:
        update.absent(fence_name(params), "TXT")
    else:
        update.present(fence_name(params), "TXT", fence_text(held))
    update.replace(fence_name(params), params["ttl"], "TXT", fence_text(params["fence_generation"]))
    return signed(update, params)


def send(params: dict[str, Any]) -> str:
    """Send the signed update (fenced when the run has a generation); the server's answer."""
    update = new_update(params)
    if params["fence_generation"] is not None:
        update.present(fence_name(params), "TXT", fence_text(params["fence_generation"]))
    for rdtype, address in (("A", params["ipv4"]), ("AAAA", params["ipv6"])):
        if params["state"] == "absent":
            update.delete(params["name"], rdtype)
        else:
            update.replace(params["name"], params["ttl"], rdtype, address)
    return signed(update, params)


def wanted(params: dict[str, Any]) -> dict[str, tuple[set[str], int]]:
    """What the server should answer for the name once the update is done."""
    if params["state"] == "absent":
        return {}
    return {"A": ({params["ipv4"]}, params["ttl"]), "AAAA": ({params["ipv6"]}, params["ttl"])}


def signed(update: dns.update.UpdateMessage, params: dict[str, Any]) -> str:
    """Send ``update`` over TCP; the server's answer code."""
    try:
        response = params["ask"](update)
    except dns.tsig.PeerError as error:
        # The server's refusal is signed with the key it holds, which is not ours.
        return f"NOTAUTH ({type(error).__name__}: the server does not accept our TSIG key)"
    return str(dns.rcode.to_text(response.rcode()))


class RefusedError(Exception):
    """The update cannot be made: the task fails with this message."""


def fence(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """``fence_only``: claim the name's fence for this run, or refuse if a newer run holds it."""
    mine = params["fence_generation"]
    held = current_fence(params)
    if held is not None and held > mine:
        raise RefusedError(f"stale run: the name's fence holds generation {held}, this run {mine}")
    if held == mine:
        return {"changed": False, "rcode": "NOERROR", "fence": mine}
    rcode = "NOERROR" if check_mode else claim_fence(params, held)
    if rcode in ("NXRRSET", "YXRRSET"):  # another run moved it between our read and our update
        raise RefusedError(f"stale run: the name's fence moved while this run claimed it: {rcode}")
    if rcode != "NOERROR":
        raise RefusedError(f"DNS server {params['server']} refused the update: {rcode}")
    return {"changed": True, "rcode": rcode, "fence": mine}


def point(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """Make the name answer exactly ``wanted``: nothing is sent when it already does."""
    if current(params) == wanted(params):
        return {"changed": False, "rcode": "NOERROR"}
    if check_mode:
        return {"changed": True, "rcode": "NOERROR"}
    rcode = send(params)
    if rcode == "NXRRSET" and params["fence_generation"] is not None:
        raise RefusedError(
            f"stale run: a newer run holds the name's fence (past generation "
            f"{params['fence_generation']}); the DNS server refused this run's switch"
        )
    if rcode != "NOERROR":
        raise RefusedError(f"DNS server {params['server']} refused the update: {rcode}")
    answered = current(params)
    if answered != wanted(params):
        shown = sorted(address for addresses, _ttl in answered.values() for address in addresses)
        raise RefusedError(
            f"DNS server {params['server']} still answers {shown} for {params['name']} "
            "after the update"
        )
    return {"changed": True, "rcode": rcode}


def outcome(
    params: dict[str, Any], check_mode: bool, jump: govmig_site.Jump | None = None
) -> dict[str, Any]:
    """The task's result: what changed and the server's answer, or why it failed."""
    if not params["fence_only"] and params["state"] == "present":
        missing = [key for key in ("ipv4", "ipv6") if not params[key]]
        if missing:
            return {"failed": True, "msg": f"state is present but missing: {', '.join(missing)}"}
    try:
        with govmig_site.dns_exchange(params["server"], _TIMEOUT_S, jump) as ask:
            asking = {**params, "ask": ask}
            return fence(asking, check_mode) if params["fence_only"] else point(asking, check_mode)
    except RefusedError as refused:
        return {"failed": True, "msg": str(refused)}
    except (dns.exception.DNSException, OSError) as error:
        return {"failed": True, "msg": f"DNS server {params['server']} did not answer: {error}"}


def tsig_secret(task_vars: dict[str, Any]) -> str | None:
    """The TSIG secret from the task's variables (never an argument), or None if it has none."""
    secret = task_vars.get(SECRET_VAR)
    return secret if isinstance(secret, str) and secret else None


ARGUMENT_SPEC = {
    "server": {"type": "str", "required": True},
    "zone": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "ipv4": {"type": "str"},
    "ipv6": {"type": "str"},
    "ttl": {"type": "int", "required": True},
    "key_name": {"type": "str", "required": True},
    "algorithm": {"type": "str", "default": "hmac-sha256", "choices": ["hmac-sha256"]},
    "fence_generation": {"type": "int"},
    "fence_only": {"type": "bool", "default": False},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC, required_if=[("fence_only", True, ["fence_generation"])]
        )
        secret = tsig_secret(task_vars or {})
        if secret is None:
            result.update(failed=True, msg=f"no TSIG secret: the {SECRET_VAR} variable is not set")
            return result
        jump = govmig_site.jump_of(task_vars)
        result.update(outcome({**params, "key_secret": secret}, bool(self._task.check_mode), jump))
        return result
