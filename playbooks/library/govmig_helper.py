#!/usr/bin/python
"""Run one of govmig's helpers on a host (``svcctl.py``, ``datacheck.py``), as ``command`` would.

``argv`` is the command line, ``[PYTHON, HOME/NAME.py, ARGS...]``, and the result is
``command``'s: ``rc``, ``stdout``, ``stderr`` and their lines. When ``PYTHON`` is the
interpreter this module runs in, the helper's ``main(ARGS)`` runs here instead of in a
new process: under Mitogen that interpreter is the host's, already started, and keeps
what it imported, so each system no longer pays a Python's start and the helper's imports
(about 90 ms of CPU) for each step. The helpers are written for that: ``main`` takes its
arguments and returns the exit status, they print their result, and whatever they start
(rsync, the service) gets its own output, never this process's. A ``PYTHON`` that is another
interpreter runs the helper as a process, as before.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule


def run_here(script: str, args: list[str]) -> tuple[int, str, str]:
    """The helper ``script``'s ``main(args)`` in this interpreter: its status, stdout, stderr."""
    path = Path(script)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # each system's home holds the same helpers
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = importlib.import_module(path.stem).main(args)
        except SystemExit as exc:  # as the interpreter ends on it: None is 0, a message 1
            if exc.code is None or isinstance(exc.code, int):
                status = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                status = 1
        except Exception:  # as the helper's own process would end: status 1
            traceback.print_exc()
            status = 1
    return int(status), out.getvalue(), err.getvalue()


def is_this_interpreter(python: str) -> bool:
    return os.path.realpath(python) == os.path.realpath(sys.executable)


def main() -> None:
    module = AnsibleModule(
        argument_spec={"argv": {"type": "list", "elements": "str", "required": True}}
    )
    argv: list[str] = module.params["argv"]
    if len(argv) < 2:
        module.fail_json(msg="argv must name an interpreter and a helper script")
    if is_this_interpreter(argv[0]):
        rc, stdout, stderr = run_here(argv[1], argv[2:])
    else:
        rc, stdout, stderr = module.run_command(argv)
    stdout, stderr = stdout.rstrip("\r\n"), stderr.rstrip("\r\n")  # as command's
    result: dict[str, Any] = {
        "rc": rc,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_lines": stdout.splitlines(),
        "stderr_lines": stderr.splitlines(),
        "changed": True,
    }
    if rc != 0:
        module.fail_json(msg=f"non-zero return code {rc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
