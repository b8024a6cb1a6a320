"""Ansible action: GET a URL from the orchestrator, as a client of the service would.

The ``ssh`` role asks a service for its health over the network with it: the
source before a move, the target by name after the switch, both address
families in verify. The result has what ``ansible.builtin.uri`` would give for
the same GET: ``status`` (-1 when nothing answered), ``json`` when the body is
JSON, and ``msg``; the task fails unless the status is 200.

An action, not a module: it runs inside the controller's worker, so asking
needs no connection to localhost (with Mitogen, a context of its own per run).
It goes to the address through no HTTP proxy, as the name's clients do:
straight, or through the site's jump host (``plugin_utils/govmig_site.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

sys.path.append(str(Path(__file__).resolve().parents[1] / "plugin_utils"))  # last: shadows nothing
import govmig_site  # shared by the role's actions: plugin_utils/, beside them

DOCUMENTATION = r"""
action: govmig_http
short_description: GET a URL from the orchestrator and read its JSON answer
options:
  url: {description: "the http:// URL to GET", required: true, type: str}
  headers: {description: request headers (a Host to ask by name), type: dict, default: {}}
  timeout: {description: seconds to wait for the answer, type: int, default: 5}
  explain:
    description: >-
      when nothing answered through the jump host's shared login, ask once more on a
      login of its own to say why (false for a check that expects no answer)
    type: bool
    default: true
"""

ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "headers": {"type": "dict", "default": {}},
    "timeout": {"type": "int", "default": 5},
    "explain": {"type": "bool", "default": True},
}


def get(
    url: str,
    headers: dict[str, str],
    timeout: int,
    jump: govmig_site.Jump | None = None,
    *,
    explain: bool = True,
) -> dict[str, Any]:
    """The task's result for one GET of ``url``, straight or through ``jump``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return {"failed": True, "status": -1, "msg": f"not an http:// URL: {url}"}
    host, port = parts.hostname, parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        with govmig_site.stream(host, port, timeout, jump, explain=explain) as sock:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
            connection.sock = sock  # connected already, maybe through the jump host
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            status, body = response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        return {"failed": True, "status": -1, "msg": f"no answer from {url}: {error}"}
    result: dict[str, Any] = {"status": status, "msg": f"HTTP {status} from {url}"}
    with contextlib.suppress(ValueError):  # not JSON: the status is the answer
        result["json"] = json.loads(body)
    result["failed"] = status != 200
    return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        jump = govmig_site.jump_of(task_vars)
        asked = get(args["url"], args["headers"], args["timeout"], jump, explain=args["explain"])
        result.update(changed=False, **asked)
        return result
