"""The text of the lab's files: sshd and named configs, the zone, known_hosts, the inventory.

Pure: given the topology and the layout, each function returns the text to
write; ``daemons`` writes it. Every value spliced in is an address, a host name
validated by ``topology`` or an absolute path of the lab's own making.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.lab.layout import LabPaths
from orchestrator.lab.topology import (
    TTL_S,
    ZONE,
    LabHost,
    Role,
    Topology,
)
from orchestrator.providers.ssh_hosts import (
    DnsServer,
    NodePool,
    SshAccess,
    SshHost,
    SshHosts,
    dump_ssh_hosts,
)

TSIG_KEY_NAME = "govmig-lab"
TSIG_ALGORITHM = "hmac-sha256"
# Debian's: sudo runs its commands with this PATH, whatever the login's.
SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RSYNC = "/usr/bin/rsync"  # where secure_path finds it on Debian


def login_home(user: str) -> str:
    """A login user's home on each host's private disk (the lab's own users only)."""
    return f"/srv/home/{user}"


def sshd_config(host: LabHost, topology: Topology, paths: LabPaths) -> str:
    """A key-only sshd for one user on the host's two addresses, with its own key and pid file.

    Root logs in only when it is the login user: otherwise the host is a hardened one's
    image, whose users log in and become root with sudo, and whose sshd reads a user's
    keys as that user (so from its home, not from the lab's root-only directory). Behind
    a bastion, logins from this machine reach no other host (``network.create_host``).
    """
    home, options = paths.host_dir(host.name), topology.options
    login_user, port = options.login_user, options.ssh_port
    as_root = not options.hardened_login
    keys = paths.authorized_keys if as_root else f"{login_home(login_user)}/.ssh/authorized_keys"
    return "\n".join(
        [
            f"ListenAddress {host.ipv4}:{port}",
            f"ListenAddress [{host.ipv6}]:{port}",
            f"HostKey {home / 'ssh_host_ed25519_key'}",
            f"PidFile {home / 'sshd.pid'}",
            f"AuthorizedKeysFile {keys}",
            f"AllowUsers {login_user}",
            f"PermitRootLogin {'prohibit-password' if as_root else 'no'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # Every playbook run logs in afresh, and the post-quantum hybrid KEX OpenSSH
            # prefers costs the client eight times the CPU of X25519 (64 ms against 8 per
            # login here); the lab's hosts are namespaces on this machine, so X25519 serves.
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org",
            # The lab directory may sit under a tmp dir whose modes sshd would reject.
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def login_user_files(
    user: str, passwd: str, group: str, password_hash: str | None = None
) -> dict[str, str]:
    """Every host's ``/etc`` files with ``user`` added: this machine's users and groups
    (``passwd``, ``group``) and one more, and a sudoers that lets ``user`` alone become
    root. Without ``password_hash`` no password anywhere (keys only) and sudo asks none;
    with it (crypt's format), ``user`` has that password and sudo asks it, but for rsync
    (the far end of each copy, whose input is rsync's protocol)."""
    uid = free_id(passwd, group)
    # "*": no password can match, and the account is not locked (sshd refuses those).
    user_shadow = f"{user}:{password_hash or '*'}:20000:0:99999:7:::"
    sudo = [f"{user} ALL=(root) NOPASSWD: ALL"]
    if password_hash:
        sudo = [f"{user} ALL=(root) ALL", f"{user} ALL=(root) NOPASSWD: {RSYNC}"]
    return {
        "passwd": f"{passwd.rstrip()}\n{user}:x:{uid}:{uid}::{login_home(user)}:/bin/sh\n",
        "group": f"{group.rstrip()}\n{user}:x:{uid}:\n",
        "shadow": f"root:*:20000:0:99999:7:::\n{user_shadow}\n",
        "sudoers": "\n".join(
            [
                "Defaults env_reset",
                f'Defaults secure_path="{SECURE_PATH}"',
                "root ALL=(ALL:ALL) ALL",
                *sudo,
                "",
            ]
        ),
    }


def free_id(passwd: str, group: str, first: int = 2000) -> int:
    """The first id from ``first`` that is neither a user's nor a group's."""
    taken = {
        line.split(":")[2]
        for text in (passwd, group)
        for line in text.splitlines()
        if line.count(":") >= 2
    }
    return next(n for n in range(first, 60_000) if str(n) not in taken)


def named_conf(topology: Topology, paths: LabPaths) -> str:
    """An authoritative-only named on the DNS host's addresses, updatable with the TSIG key."""
    dns, home = topology.dns, paths.dns_dir
    return f"""options {{
    directory "{home}";
    pid-file "{home / "named.pid"}";
    session-keyfile "{home / "session.key"}";
    managed-keys-directory "{home}";
    listen-on port 53 {{ {dns.ipv4}; }};
    listen-on-v6 port 53 {{ {dns.ipv6}; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-query {{ any; }};
}};
controls {{ }};
include "{paths.tsig_key}";
zone "{ZONE}" {{
    type primary;
    file "{paths.zone_file(ZONE)}";
    allow-update {{ key "{TSIG_KEY_NAME}"; }};
}};
"""


def zone_file(topology: Topology) -> str:
    """The lab zone: SOA, NS, and an A and AAAA record for every host."""
    lines = [
        f"$ORIGIN {ZONE}.",
        f"$TTL {TTL_S}",
        f"@ IN SOA dns.{ZONE}. hostmaster.{ZONE}. 1 {TTL_S} {TTL_S} 600 {TTL_S}",
        f"@ IN NS dns.{ZONE}.",
    ]
    for host in topology.hosts:
        lines += [f"{host.name} IN A {host.ipv4}", f"{host.name} IN AAAA {host.ipv6}"]
    return "\n".join(lines) + "\n"


def known_hosts(keys: Mapping[str, str], topology: Topology) -> str:
    """One line per host with an sshd: its name, FQDN and both addresses, then its public key
    (each name as ``[name]:port`` when the sshd is not on 22, as ssh looks it up then)."""
    port, lines = topology.options.ssh_port, []
    for host in topology.hosts:
        if host.name in keys:
            names = [host.name, f"{host.name}.{ZONE}", str(host.ipv4), str(host.ipv6)]
            if port != 22:
                names = [f"[{name}]:{port}" for name in names]
            lines.append(f"{','.join(names)} {keys[host.name].strip()}")
    return "\n".join(lines) + "\n"


def inventory(topology: Topology, paths: LabPaths) -> str:
    """The ssh provider's ``hosts.yml`` for this lab: a login user other than root becomes
    root with sudo."""
    dns, login_user = topology.dns, topology.options.login_user

    def as_ssh_host(host: LabHost) -> SshHost:
        return SshHost(
            name=host.name, ipv4=host.ipv4, ipv6=host.ipv6, port=topology.options.ssh_port
        )

    def of_node(role: Role, node: str) -> list[SshHost]:
        return [as_ssh_host(h) for h in topology.of_role(role) if h.node == node]

    pools = {
        plan.node: NodePool(
            system_ipv4_pool=plan.system_ipv4_pool,
            hosts=tuple(of_node("target", plan.node)),
            execution_host=next(iter(of_node("execution", plan.node)), None),
        )
        for plan in topology.nodes
    }
    hosts = SshHosts(
        ssh=SshAccess(
            user=login_user,
            become="sudo" if topology.options.hardened_login else None,
            become_password_file=paths.sudo_password if topology.options.sudo_password else None,
            private_key_file=paths.client_key,
            known_hosts_file=paths.known_hosts,
            jump_host=as_ssh_host(topology.bastion) if topology.bastion else None,
        ),
        dns=DnsServer(
            server_ipv4=dns.ipv4,
            server_ipv6=dns.ipv6,
            zone=ZONE,
            tsig_key_file=paths.tsig_key,
            tsig_key_name=TSIG_KEY_NAME,
            tsig_algorithm=TSIG_ALGORITHM,
        ),
        nodes=pools,
        sources=tuple(as_ssh_host(h) for h in topology.of_role("source")),
    )
    return dump_ssh_hosts(hosts)
