"""Ansible action: install the files a helper needs on the task's host, then run it there.

``argv`` goes to the module of the same name (``library/govmig_helper.py``), which runs the
helper. ``install`` (optional) lists files as ``govmig_install``'s ``files`` does, and that
action installs them first, in the same task: the ssh role installed each helper it runs
(and the host key rsync checks) in a task before the one that runs it, a task execution per
system more, in the controller's one loop that serves every host of a run. If the install
fails, the helper does not run and the task fails saying why. The result is the helper's,
with ``written``: the paths the install wrote or gave their mode.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: govmig_helper
short_description: Install a helper's files on a host, then run the helper there
options:
  argv:
    description: the helper's command line, its interpreter first (the module's)
    required: true
    type: list
    elements: str
  install:
    description: files to install first, each as an entry of govmig_install's files
    required: false
    type: list
    elements: dict
"""

ARGUMENT_SPEC = {
    "argv": {"type": "list", "elements": "str", "required": True},
    # Passed on as they are: govmig_install's action checks each entry.
    "install": {"type": "list", "elements": "dict", "default": []},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        written: list[str] = []
        if args["install"]:
            installed = self._install(args["install"], task_vars)
            if installed.get("failed"):
                result.update(installed)
                return result
            written = installed.get("written", [])
        ran = self._execute_module(
            module_name="ansible.legacy.govmig_helper",
            module_args={"argv": args["argv"]},
            task_vars=task_vars,
        )
        result.update(ran, written=written)
        return result

    def _install(self, files: list[dict[str, Any]], task_vars: Any) -> dict[str, Any]:
        """``govmig_install``'s result for ``files``, run as this task (its host, connection
        and check mode), as ``template`` runs ``copy``."""
        task = self._task.copy()
        task.args = {"files": files}
        action = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.govmig_install",
            task=task,
            connection=self._connection,
            play_context=self._play_context,
            loader=self._loader,
            templar=self._templar,
            shared_loader_obj=self._shared_loader_obj,
        )
        installed: dict[str, Any] = action.run(task_vars=task_vars)
        return installed
