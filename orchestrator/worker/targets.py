"""From stored rows to what a playbook run needs: node and system targets, IPv6 addresses.

Pure. The phase worker reads a batch's rows, its node's ledger usage and the
systems' IPv6 host numbers, and builds the executor's validated
``NodeTarget``/``SystemTarget`` here. ``ipv6_address`` computes an address
exactly as the playbooks do (``local_ipv6_address`` in the ``local`` role's
defaults), so the store records the address the instance was given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from orchestrator.capacity import NodeUsage, ResourceClass
from orchestrator.execution import NodeTarget, SystemTarget
from orchestrator.inventory.models import Node, SourceLocation
from orchestrator.store import SystemRow


def node_targets(nodes: Mapping[str, Node]) -> dict[str, NodeTarget]:
    """A target for every node that has an IPv6 prefix (playbooks need one)."""
    return {
        node_id: NodeTarget(node_id=node_id, ipv6_prefix=node.ipv6_prefix)
        for node_id, node in nodes.items()
        if node.ipv6_prefix is not None
    }


def ipv6_address(prefix: str, index: int) -> str:
    """The address of host ``index`` in ``prefix``, as the playbooks write it."""
    network = ipaddress.IPv6Network(prefix, strict=True)
    return f"{network.compressed.split('/')[0]}{index:x}"


def free_on_node(usage: NodeUsage, system_id: str) -> dict[str, int]:
    """What ``system_id`` may use on the node: the free capacity plus its own reservation."""
    own = usage.allocations.get(system_id, {})
    return {
        resource: usage.free(resource) + int(own.get(resource, 0))
        for resource in (ResourceClass.VCPU, ResourceClass.MEMORY_GB, ResourceClass.STORAGE_GB)
    }


def system_target(row: SystemRow, *, usage: NodeUsage, ipv6_index: int) -> SystemTarget:
    """The executor's view of one stored system."""
    free = free_on_node(usage, row.id)
    return SystemTarget(
        system_id=row.id,
        vcpu=int(row.record["vcpu"]),
        memory_gb=int(row.record["memory_gb"]),
        storage_gb=int(row.record["storage_gb"]),
        ipv6_index=ipv6_index,
        free_vcpu=max(0, free[ResourceClass.VCPU]),
        free_memory_gb=max(0, free[ResourceClass.MEMORY_GB]),
        free_storage_gb=max(0, free[ResourceClass.STORAGE_GB]),
        source=SourceLocation.model_validate(row.record["source"]),
        lease_generation=row.lease_generation,
    )
