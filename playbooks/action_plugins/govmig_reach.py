"""Ansible action: whether a TCP port answers from the orchestrator. Changes nothing.

The ``ssh`` role's preflight asks it whether the target host takes a
connection on its IPv6 address (port 22), as ``ansible.builtin.wait_for``
with ``state: started`` would, without waiting past the first try's timeout.
The result has ``reachable`` and, when not, ``msg`` with why; the task fails
then.

An action, not a module: it runs inside the controller's worker, so asking
needs no connection to localhost (with Mitogen, a context of its own per run).
"""

from __future__ import annotations

import socket
from typing import Any

from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: govmig_reach
short_description: Connect to a TCP port from the orchestrator
options:
  host: {description: the address to connect to, required: true, type: str}
  port: {description: the TCP port, required: true, type: int}
  timeout: {description: seconds to wait for the connection, type: int, default: 5}
"""

ARGUMENT_SPEC = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "timeout": {"type": "int", "default": 5},
}


def reach(host: str, port: int, timeout: int) -> dict[str, Any]:
    """The task's result for one connection to ``host``:``port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return {"reachable": True}
    except OSError as error:
        return {"failed": True, "reachable": False, "msg": f"{host} port {port}: {error}"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(changed=False, **reach(args["host"], args["port"], args["timeout"]))
        return result
