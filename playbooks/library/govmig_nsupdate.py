"""Ansible module: point a name at exactly these A and AAAA addresses, by a TSIG-signed update.

Run by the ``ssh`` role on the orchestrator (``delegate_to: localhost``, with
``no_log``): an RFC 2136 update over TCP to the zone's primary, signed with
HMAC-SHA256 through dnspython. Idempotent: when the server already answers
exactly these addresses with this TTL, nothing is sent. A refused or badly
signed update fails the task with the server's answer, never the secret.
"""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: govmig_nsupdate
short_description: Replace a name's A and AAAA records with a TSIG-signed RFC 2136 update
options:
  server: {description: the zone's primary server (an address), required: true, type: str}
  zone: {description: the zone, required: true, type: str}
  name: {description: the label inside the zone, required: true, type: str}
  ipv4: {description: the A record's address, required: true, type: str}
  ipv6: {description: the AAAA record's address, required: true, type: str}
  ttl: {description: the records' TTL in seconds, required: true, type: int}
  key_name: {description: the TSIG key's name, required: true, type: str}
  key_secret: {description: the TSIG key's base64 secret, required: true, type: str, no_log: true}
  algorithm: {description: TSIG algorithm, type: str, default: hmac-sha256, choices: [hmac-sha256]}
"""

_TIMEOUT_S = 5.0


def current(params: dict[str, Any]) -> dict[str, tuple[set[str], int]]:
    """What the server answers now for the name: addresses and TTL, per record type."""
    fqdn = dns.name.from_text(params["name"], dns.name.from_text(params["zone"]))
    found: dict[str, tuple[set[str], int]] = {}
    for rdtype in ("A", "AAAA"):
        query = dns.message.make_query(fqdn, rdtype)
        response = dns.query.tcp(query, params["server"], timeout=_TIMEOUT_S)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rdtype):
                found[rdtype] = ({item.to_text() for item in rrset}, rrset.ttl)
    return found


def send(params: dict[str, Any]) -> str:
    """Send the signed update; the server's answer code."""
    keyring = dns.tsigkeyring.from_text({params["key_name"]: params["key_secret"]})
    update = dns.update.UpdateMessage(
        params["zone"],
        keyring=keyring,
        keyname=dns.name.from_text(params["key_name"]),
        keyalgorithm=params["algorithm"],
    )
    update.replace(params["name"], params["ttl"], "A", params["ipv4"])
    update.replace(params["name"], params["ttl"], "AAAA", params["ipv6"])
    try:
        response = dns.query.tcp(update, params["server"], timeout=_TIMEOUT_S)
    except dns.tsig.PeerError as error:
        # The server's refusal is signed with the key it holds, which is not ours.
        return f"NOTAUTH ({type(error).__name__}: the server does not accept our TSIG key)"
    return str(dns.rcode.to_text(response.rcode()))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "server": {"type": "str", "required": True},
            "zone": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "ipv4": {"type": "str", "required": True},
            "ipv6": {"type": "str", "required": True},
            "ttl": {"type": "int", "required": True},
            "key_name": {"type": "str", "required": True},
            "key_secret": {"type": "str", "required": True, "no_log": True},
            "algorithm": {"type": "str", "default": "hmac-sha256", "choices": ["hmac-sha256"]},
        },
        supports_check_mode=True,
    )
    params = module.params
    wanted = {"A": ({params["ipv4"]}, params["ttl"]), "AAAA": ({params["ipv6"]}, params["ttl"])}
    try:
        if current(params) == wanted:
            module.exit_json(changed=False, rcode="NOERROR")
        rcode = "NOERROR" if module.check_mode else send(params)
    except (dns.exception.DNSException, OSError) as error:
        module.fail_json(msg=f"DNS server {params['server']} did not answer: {error}")
    if rcode != "NOERROR":
        module.fail_json(msg=f"DNS server {params['server']} refused the update: {rcode}")
    module.exit_json(changed=True, rcode=rcode)


if __name__ == "__main__":
    main()
