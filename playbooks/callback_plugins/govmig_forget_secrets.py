"""Ansible callback: a run's secrets leave the disk once the run has read them.

ansible-runner writes a run's secrets into the run's private data dir: the
``govmig_secret_*`` values (the TSIG key, a sudo password) into its inventory, and the
SSH key into ``env/ssh_key``, from which the run's ssh-agent is given it before
ansible-playbook starts. ansible-playbook parses its inventory before the playbook starts
and never reads it again (no govmig role refreshes its inventory). So when the playbook
starts, before its first task, this removes both: each inventory source inside the run's
private dir, and the key's file. The private dir is the parent of the run's temp dir,
which the run's guard names in ``GOVMIG_RUN_TMP``, here and on an execution host alike.
A run killed whole (guard and orchestrator too), whose dir nothing is left to remove,
then holds no secret there. Sources elsewhere (none in a govmig run) are left alone.

govmig enables it for every run, whatever the strategy (``ANSIBLE_CALLBACKS_ENABLED``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: govmig_forget_secrets
type: aggregate
short_description: Remove a run's inventory and SSH key from its dir as its playbook starts
description:
  - Removes each inventory source inside the parent of C(GOVMIG_RUN_TMP), and its env/ssh_key.
requirements:
  - the run's guard sets GOVMIG_RUN_TMP
"""

# Where ansible-runner writes the SSH key, in the private data dir.
SSH_KEY_FILE = Path("env", "ssh_key")


def secret_files(sources: Iterable[Any], run_tmp: str | None) -> list[Path]:
    """The run's files with secrets: the inventory ``sources`` inside its private dir
    (``run_tmp``'s parent), and its SSH key's file."""
    if not run_tmp:
        return []
    private = Path(run_tmp).resolve().parent
    found = (Path(source).resolve() for source in sources if isinstance(source, str))
    inventory = [path for path in found if path.is_relative_to(private) and path != private]
    return [*inventory, private / SSH_KEY_FILE]


def forget(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "govmig_forget_secrets"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook: Any) -> None:
        sources = context.CLIARGS.get("inventory") or ()
        for path in secret_files(sources, os.environ.get("GOVMIG_RUN_TMP")):
            forget(path)
