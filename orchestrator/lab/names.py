"""Service names in the lab zone: RFC 2136 updates signed with the lab's TSIG key. I/O.

The same kind of update the ``ssh`` provider sends at cutover; ``seed`` uses it
to give a freshly seeded system its A and AAAA records.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update

from orchestrator.errors import ConfigurationError
from orchestrator.lab.render import TSIG_ALGORITHM, TSIG_KEY_NAME
from orchestrator.lab.topology import TTL_S, ZONE, control_source
from orchestrator.providers.ssh_hosts import tsig_secret

_TIMEOUT_S = 5.0


def replace_addresses(
    server: IPv4Address,
    key_file: Path,
    name: str,
    ipv4: IPv4Address,
    ipv6: IPv6Address,
) -> None:
    """Point ``name`` (a label in the lab zone) at ``ipv4`` and ``ipv6``, and only at them."""
    keyring = dns.tsigkeyring.from_text({TSIG_KEY_NAME: tsig_secret(key_file.read_text())})
    update = dns.update.UpdateMessage(
        ZONE,
        keyring=keyring,
        keyname=dns.name.from_text(TSIG_KEY_NAME),
        keyalgorithm=TSIG_ALGORITHM,
    )
    update.replace(name, TTL_S, "A", str(ipv4))
    update.replace(name, TTL_S, "AAAA", str(ipv6))
    send_update(update, server)


def send_update(update: dns.message.Message, server: IPv4Address) -> None:
    """Send ``update`` over TCP; ``ConfigurationError`` unless the server says NOERROR."""
    source = control_source(str(server))  # through a bastion's wall, as the lab's own
    response = dns.query.tcp(update, str(server), timeout=_TIMEOUT_S, source=source)
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        raise ConfigurationError(
            f"the lab DNS server {server} refused the update: {dns.rcode.to_text(rcode)}"
        )
