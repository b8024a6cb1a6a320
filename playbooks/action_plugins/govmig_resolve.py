"""Ansible action: what a DNS server answers for a name, A and AAAA. Changes nothing.

The ``ssh`` role asks it on the orchestrator to check a service name as clients
will see it: before a migration (the name resolves, to the source), after the
switch (the server answers the target's addresses) and in verify. It asks the
server itself over TCP, so no resolver cache of this machine is involved:
straight, or through the site's jump host (``plugin_utils/govmig_site.py``),
both questions on one connection.

An action, not a module: it runs inside the controller's worker, so asking
needs no connection to localhost (with Mitogen, a context of its own per run).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.rdatatype
from ansible.plugins.action import ActionBase

sys.path.append(str(Path(__file__).resolve().parents[1] / "plugin_utils"))  # last: shadows nothing
import govmig_site  # shared by the role's actions: plugin_utils/, beside them

DOCUMENTATION = r"""
action: govmig_resolve
short_description: Ask a DNS server for a name's A and AAAA records
options:
  server: {description: the server to ask (an address), required: true, type: str}
  name: {description: the fully qualified name, required: true, type: str}
"""

ARGUMENT_SPEC = {
    "server": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
}

_TIMEOUT_S = 5.0


Ask = Callable[[dns.message.Message], dns.message.Message]


def answers(ask: Ask, name: str, rdtype: str) -> tuple[list[str], int | None]:
    """The sorted addresses of one record type, and their TTL (None when there are none)."""
    response = ask(dns.message.make_query(name, rdtype))
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            return sorted(item.to_text() for item in rrset), int(rrset.ttl)
    return [], None


def resolve(server: str, name: str, jump: govmig_site.Jump | None = None) -> dict[str, Any]:
    """The task's result: the name's addresses and TTL, or why the server did not answer."""
    try:
        with govmig_site.dns_exchange(server, _TIMEOUT_S, jump) as ask:
            ipv4, ttl4 = answers(ask, name, "A")
            ipv6, ttl6 = answers(ask, name, "AAAA")
    except (dns.exception.DNSException, OSError) as error:
        return {"failed": True, "msg": f"DNS server {server} did not answer for {name}: {error}"}
    return {"ipv4": ipv4, "ipv6": ipv6, "ttl": ttl4 if ttl4 is not None else ttl6}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        jump = govmig_site.jump_of(task_vars)
        result.update(changed=False, **resolve(args["server"], args["name"], jump))
        return result
