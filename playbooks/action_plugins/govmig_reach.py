"""Ansible action: whether sshd answers at an address and port, from the orchestrator.

The ``ssh`` role's preflight asks it whether the target host's sshd takes a
connection on its IPv6 address and greets it, straight or through the site's
jump host (``plugin_utils/govmig_site.py``): through a jump host a connection
is ``ssh -W``, whose stream opens before the bastion has connected, so only the
far end's first bytes (an sshd greets first) tell that it answered. Changes
nothing. The result has ``reachable`` and, when not, ``msg`` with why; the
task fails then.

An action, not a module: it runs inside the controller's worker, so asking
needs no connection to localhost (with Mitogen, a context of its own per run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

sys.path.append(str(Path(__file__).resolve().parents[1] / "plugin_utils"))  # last: shadows nothing
import govmig_site  # shared by the role's actions: plugin_utils/, beside them

DOCUMENTATION = r"""
action: govmig_reach
short_description: Connect to sshd from the orchestrator and wait for its greeting
options:
  host: {description: the address to connect to, required: true, type: str}
  port: {description: the TCP port, required: true, type: int}
  timeout: {description: seconds to wait for the greeting, type: int, default: 5}
"""

ARGUMENT_SPEC = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "timeout": {"type": "int", "default": 5},
}


def reach(
    host: str, port: int, timeout: int, jump: govmig_site.Jump | None = None
) -> dict[str, Any]:
    """The task's result for one connection to ``host``:``port``, straight or through ``jump``."""
    try:
        with govmig_site.stream(host, port, timeout, jump) as sock:
            govmig_site.greets(sock)
    except OSError as error:
        return {"failed": True, "reachable": False, "msg": str(error)}
    return {"reachable": True}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        jump = govmig_site.jump_of(task_vars)
        result.update(changed=False, **reach(args["host"], args["port"], args["timeout"], jump))
        return result
