"""Shell completion's suggestions: system ids from the state store, node names from the inventory.

Typer calls these on every Tab press (``govmig --install-completion`` sets the
shell up), with the words typed so far already parsed into ``ctx.params``. So a
``--state-db`` or ``--inventory`` typed before the cursor is honoured; without
one the store URL comes from ``GOVMIG_STATE_DB`` or the default, as for the
command itself. A suggestion never costs more than one bounded, read-only
SELECT (``store.peek``), and any failure means no suggestions: a traceback or a
wait would land in the middle of the operator's command line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli.options import state_db_url
from orchestrator.inventory.loader import DEFAULT_INVENTORY_ROOT, load_inventory
from orchestrator.store import stored_system_ids


def complete_system_id(ctx: typer.Context, incomplete: str) -> list[str]:
    """Stored system ids starting with ``incomplete``, less those already on the line."""
    try:
        url = state_db_url(_param(ctx, "state_db"))
    except Exception:  # a malformed GOVMIG_* environment: no suggestions, not a traceback
        return []
    # Typer hands completers no words; a SYSTEM_ID... argument's typed ones are in its param.
    typed = ctx.params.get("system_ids") or ()
    return [found for found in stored_system_ids(url, incomplete) if found not in typed]


def complete_node(ctx: typer.Context, incomplete: str) -> list[str]:
    """City node names starting with ``incomplete``, from the inventory (no store)."""
    return [name for name in node_names(_inventory_root(ctx)) if name.startswith(incomplete)]


def complete_node_list(ctx: typer.Context, incomplete: str) -> list[str]:
    """For ``a,b,c`` options: the names that can end the list typed so far."""
    head, comma, last = incomplete.rpartition(",")
    chosen = set(head.split(",")) if comma else set()
    prefix = f"{head}," if comma else ""
    return [
        prefix + name
        for name in node_names(_inventory_root(ctx))
        if name.startswith(last) and name not in chosen
    ]


def node_names(root: Path) -> list[str]:
    """The inventory's city node names, sorted; [] if it cannot be read."""
    try:
        return sorted(load_inventory(root).nodes)
    except Exception:  # a missing or broken inventory: no suggestions, not a traceback
        return []


def _inventory_root(ctx: typer.Context) -> Path:
    given = _param(ctx, "inventory")
    return Path(given) if given else DEFAULT_INVENTORY_ROOT


def _param(ctx: typer.Context, name: str) -> str | None:
    """A string option typed before the cursor, if any."""
    value = ctx.params.get(name)
    return None if value is None else str(value)
