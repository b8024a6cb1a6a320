"""Ansible action: GET a URL from the orchestrator, as a client of the service would.

The ``ssh`` role asks a service for its health over the network with it: the
source before a move, the target by name after the switch, both address
families in verify. The result has what ``ansible.builtin.uri`` would give for
the same GET: ``status`` (-1 when nothing answered), ``json`` when the body is
JSON, and ``msg``; the task fails unless the status is 200.

An action, not a module: it runs inside the controller's worker, so asking
needs no connection to localhost (with Mitogen, a context of its own per run).
It goes straight to the address, through no proxy, as the name's clients do.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import Any

from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: govmig_http
short_description: GET a URL from the orchestrator and read its JSON answer
options:
  url: {description: "the http:// URL to GET", required: true, type: str}
  headers: {description: request headers (a Host to ask by name), type: dict, default: {}}
  timeout: {description: seconds to wait for the answer, type: int, default: 5}
"""

ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "headers": {"type": "dict", "default": {}},
    "timeout": {"type": "int", "default": 5},
}

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, headers: dict[str, str], timeout: int) -> dict[str, Any]:
    """The task's result for one GET of ``url``."""
    if not url.startswith("http://"):
        return {"failed": True, "status": -1, "msg": f"not an http:// URL: {url}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http:// only, above
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return {"failed": True, "status": -1, "msg": f"no answer from {url}: {reason}"}
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
        result.update(changed=False, **get(args["url"], args["headers"], args["timeout"]))
        return result
