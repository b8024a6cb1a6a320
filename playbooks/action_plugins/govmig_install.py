"""Ansible action: install a few directories and files on the task's host in one round trip.

Each entry of ``files`` has a ``dest`` on the host and a ``mode``, and either ``src``, a
file on the controller (found as ``copy`` finds it: absolute, or under the role's or the
playbook's ``files/``), or ``content``, its text; ``force: false`` keeps a file already
there. The action reads each ``src`` here (once a run for a file unchanged since) and sends
the bytes to the module of the same name (``library/govmig_install.py``), which writes only
what differs. Each entry of ``directories`` (optional) has a ``path`` and a ``mode``: it is
made, with its parents, before the files. The result has ``changed`` and ``written``, never
the files' bytes.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: govmig_install
short_description: Install directories and files on a host in one round trip, each if it differs
options:
  directories:
    description: each directory's path and mode, made with its parents before the files
    required: false
    type: list
    elements: dict
  files:
    description: each file's dest and mode, and its src on the controller or its content
    required: true
    type: list
    elements: dict
"""

ENTRY_SPEC = {
    "dest": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
    "src": {"type": "str"},
    "content": {"type": "str"},
    "force": {"type": "bool", "default": True},
}
ARGUMENT_SPEC = {
    # Passed on as they are: the module checks each entry's path and mode.
    "directories": {"type": "list", "elements": "dict", "default": []},
    "files": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": ENTRY_SPEC,
        "mutually_exclusive": [["src", "content"]],
        "required_one_of": [["src", "content"]],
    },
}
# (path, size, mtime_ns, inode) -> the file's bytes as base64: the run's workers are threads.
_read: dict[tuple[str, int, int, int], str] = {}


def encoded(path: str) -> str:
    """The bytes of the controller's file ``path``, as base64."""
    info = Path(path).stat()
    key = (path, info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in _read:
        _read[key] = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return _read[key]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        files = [self._entry(each) for each in args["files"]]
        done = self._execute_module(
            module_name="ansible.legacy.govmig_install",
            module_args={"directories": args["directories"], "files": files},
            task_vars=task_vars,
        )
        done.pop("invocation", None)  # the module's arguments: every file's bytes
        result.update(done)
        return result

    def _entry(self, each: dict[str, Any]) -> dict[str, Any]:
        """What the module is sent for one file: its bytes in place of its src."""
        if each["content"] is not None:
            content = base64.b64encode(each["content"].encode()).decode("ascii")
        else:
            try:
                content = encoded(self._find_needle("files", each["src"]))
            except OSError as error:
                raise AnsibleActionFail(f"cannot read {each['src']}: {error.strerror}") from error
        return {**{key: each[key] for key in ("dest", "mode", "force")}, "content": content}
