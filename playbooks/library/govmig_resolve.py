"""Ansible module: what a DNS server answers for a name, A and AAAA. Changes nothing.

The ``ssh`` role runs it on the orchestrator (``delegate_to: localhost``) to
check a service name as clients will see it: before a migration (the name
resolves, to the source), after the switch (the server answers the target's
addresses) and in verify. Asks the server itself over TCP, so no resolver
cache of this machine is involved.
"""

from __future__ import annotations

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: govmig_resolve
short_description: Ask a DNS server for a name's A and AAAA records
options:
  server: {description: the server to ask (an address), required: true, type: str}
  name: {description: the fully qualified name, required: true, type: str}
"""

_TIMEOUT_S = 5.0


def answers(server: str, name: str, rdtype: str) -> tuple[list[str], int | None]:
    """The sorted addresses of one record type, and their TTL (None when there are none)."""
    response = dns.query.tcp(dns.message.make_query(name, rdtype), server, timeout=_TIMEOUT_S)
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            return sorted(item.to_text() for item in rrset), int(rrset.ttl)
    return [], None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "server": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    server, name = module.params["server"], module.params["name"]
    try:
        ipv4, ttl4 = answers(server, name, "A")
        ipv6, ttl6 = answers(server, name, "AAAA")
    except (dns.exception.DNSException, OSError) as error:
        module.fail_json(msg=f"DNS server {server} did not answer for {name}: {error}")
    module.exit_json(changed=False, ipv4=ipv4, ipv6=ipv6, ttl=ttl4 if ttl4 is not None else ttl6)


if __name__ == "__main__":
    main()
