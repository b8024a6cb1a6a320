"""``govmig lab up|down|status|seed``: the lab of real hosts on this machine (needs root).

Parses options, calls ``orchestrator.lab`` and prints. ``status --output json``
and ``seed --output json`` are the lab's interface for the demo, the tests and
scripts: see ``LabStatus.document`` and ``orchestrator.lab.seeding``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from orchestrator.cli.completion import complete_node_list
from orchestrator.cli.options import InventoryOption, comma_list, first_problem
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.errors import ConfigurationError, GovmigError
from orchestrator.inventory import DEFAULT_INVENTORY_ROOT, load_inventory
from orchestrator.lab import (
    DEFAULT_SIZE,
    Lab,
    LabOptions,
    LabPaths,
    LabStatus,
    choose_nodes,
    choose_platforms,
    seed,
)
from orchestrator.settings import DEFAULT_HOME

app = typer.Typer(
    help="A lab of real hosts: network namespaces with their own sshd, addresses and disk, "
    "and a BIND 9 DNS server. Needs root.",
    no_args_is_help=True,
)

DEFAULT_LAB_DIR = DEFAULT_HOME / "lab"

LabDirOption = Annotated[
    Path,
    typer.Option(
        "--lab-dir",
        envvar="GOVMIG_LAB_DIR",
        help=f"Keys, configs, logs, pid record and hosts.yml (default {DEFAULT_LAB_DIR}).",
    ),
]


class LabNotUpError(GovmigError):
    """``status`` found no lab, or a lab not fully running."""


def _lab(lab_dir: Path, inventory_root: Path) -> Lab:
    return Lab(LabPaths.under(lab_dir), load_inventory(inventory_root))


@app.command()
def up(
    nodes: Annotated[
        str,
        typer.Option(
            "--nodes",
            help="City nodes to give target hosts, a,b,c (default all).",
            autocompletion=complete_node_list,
        ),
    ] = "",
    per_node: Annotated[int, typer.Option("--per-node", help="Target hosts per node.")] = 1,
    sources: Annotated[int, typer.Option("--sources", help="Source hosts, src-1..N.")] = 3,
    disk_mb: Annotated[int, typer.Option("--disk-mb", help="Each host's private disk, MB.")] = 256,
    execution_hosts: Annotated[
        bool,
        typer.Option(
            "--execution-hosts", help="Give each node an execution host that runs its playbooks."
        ),
    ] = False,
    platforms: Annotated[
        str,
        typer.Option(
            "--platforms",
            help="PRD platforms to give a pool of --per-node target hosts and an IPv6 prefix "
            "each, a,b (default none).",
        ),
    ] = "",
    login_user: Annotated[
        str,
        typer.Option(
            "--login-user",
            help="The user Ansible logs in as on every host. Another than root makes hardened "
            "hosts: root cannot log in, the user becomes root with sudo.",
        ),
    ] = "root",
    sudo_password: Annotated[
        bool,
        typer.Option(
            "--sudo-password",
            help="With --login-user: sudo asks the user's password (one the lab makes), but "
            "for rsync.",
        ),
    ] = False,
    bastion: Annotated[
        bool,
        typer.Option(
            "--bastion",
            help="Put a bastion host in front: this machine logs in to the hosts through it only.",
        ),
    ] = False,
    ssh_port: Annotated[int, typer.Option("--ssh-port", help="Every host's sshd port.")] = 22,
    lab_dir: LabDirOption = DEFAULT_LAB_DIR,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
) -> None:
    """Bring the lab up and write the ssh provider's inventory; a repeat changes nothing."""
    lab = _lab(lab_dir, inventory)
    try:
        options = LabOptions(
            nodes=choose_nodes(lab.inventory, comma_list(nodes)),
            per_node=per_node,
            sources=sources,
            disk_mb=disk_mb,
            execution_hosts=execution_hosts,
            platforms=choose_platforms(lab.inventory, comma_list(platforms)),
            login_user=login_user,
            sudo_password=sudo_password,
            bastion=bastion,
            ssh_port=ssh_port,
        )
    except ValidationError as error:
        raise ConfigurationError(f"lab up: {first_problem(error, options=True)}") from None
    typer.echo(lab.up(options))


@app.command()
def down(
    lab_dir: LabDirOption = DEFAULT_LAB_DIR, inventory: InventoryOption = DEFAULT_INVENTORY_ROOT
) -> None:
    """Stop what the lab started and remove its namespaces, bridge and directory."""
    typer.echo(_lab(lab_dir, inventory).down())


@app.command()
def status(
    lab_dir: LabDirOption = DEFAULT_LAB_DIR,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Every host's namespace and daemon, checked now; exits non-zero unless all are up."""
    found = _lab(lab_dir, inventory).status()
    _print_status(found, output)
    if not found.up:
        down = [h.name for h in found.hosts if not (h.namespace and h.alive)]
        raise LabNotUpError(f"the lab in {found.lab_dir} is not fully up: {', '.join(down)}")


def _print_status(found: LabStatus, output: OutputFormat) -> None:
    # Strings, so the table shows pids as they are typed, not as "31,620".
    rows = [
        {**host.model_dump(include={"name", "role", "node", "ipv4", "ipv6"})}
        | {"namespace": _yes(host.namespace), "pid": str(host.pid or "-")}
        | {"daemon": _yes(host.alive)}
        for host in found.hosts
    ]
    emit(rows, output, title=f"lab {found.lab_dir}", document=found.document())


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


@app.command("seed")
def seed_command(
    system_ids: Annotated[list[str], typer.Argument(help="System ids to create sources for.")],
    size: Annotated[int, typer.Option("--size", help="Bytes of data per system.")] = DEFAULT_SIZE,
    lab_dir: LabDirOption = DEFAULT_LAB_DIR,
    inventory: InventoryOption = DEFAULT_INVENTORY_ROOT,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create each system's source: data, a running sample service and its DNS records."""
    results = seed(_lab(lab_dir, inventory), system_ids, size=size)
    rows = [
        {"system_id": r["system_id"], "host": r["source"]["host"], "name": r["name"]}
        | {"ipv4": r["source"]["ipv4"], "ipv6": r["source"]["ipv6"]}
        for r in results
    ]
    emit(rows, output, title="seeded systems", document=results)
