#!/usr/bin/python
"""Install a few directories and files on a host in one step: each made only if missing,
given its mode only if that differs, and a file written only if its bytes differ.
``directories`` lists each directory's ``path`` and ``mode`` (octal), made with its parents
before the files.

``files`` lists each file's ``dest``, ``mode`` (octal), ``content`` (base64) and ``force``
(false: a file already there is kept, whatever it holds). The action of the same name
(``action_plugins/govmig_install.py``) reads the files' bytes on the controller and sends
them here. A file is written beside its ``dest`` and renamed over it, so no reader ever sees
half of it; one whose bytes are the same but whose mode is not is only given its mode. The
result has ``changed`` and ``written``, the paths made, written or given their mode. In check mode
nothing is written, and ``written`` says what would be.

``copy`` asks the host for each file's checksum in one round trip and then writes it or sets
its mode in another: four round trips for the source's pinned host key and helper, and each
system of a batch makes them in every phase. Here it is one.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {
    "directories": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "path": {"type": "path", "required": True},
            "mode": {"type": "str", "required": True},
        },
    },
    "files": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "dest": {"type": "path", "required": True},
            "mode": {"type": "str", "required": True},
            "content": {"type": "str", "required": True},
            "force": {"type": "bool", "default": True},
        },
    },
}


def needs(dest: Path, data: bytes, mode: int, force: bool) -> str | None:
    """What installing ``data`` at ``dest`` takes: "write", "mode" or nothing (None)."""
    try:
        info = dest.lstat()
    except FileNotFoundError:
        return "write"
    if not force:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size != len(data) or dest.read_bytes() != data:
        return "write"
    return "mode" if stat.S_IMODE(info.st_mode) != mode else None


def write(dest: Path, data: bytes, mode: int) -> None:
    """``data`` at ``dest`` with ``mode``, whole or not at all: written beside it, then
    renamed over it."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            os.fchmod(out.fileno(), mode)
        temporary.replace(dest)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def make(directories: Iterable[Mapping[str, Any]], check: bool) -> list[str]:
    """Make each of ``directories`` that is missing (and its parents), or give it its mode;
    the paths made or given their mode."""
    done = []
    for each in directories:
        path, mode = Path(each["path"]), int(each["mode"], 8)
        try:
            info = path.stat()
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISDIR(info.st_mode):
                raise NotADirectoryError(20, "it is there and not a directory", str(path))
            if stat.S_IMODE(info.st_mode) == mode:
                continue
        done.append(str(path))
        if check:
            continue
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)  # whatever the umask made of it
    return done


def install(files: Iterable[Mapping[str, Any]], check: bool) -> list[str]:
    """Install each of ``files`` that needs it; the paths written or given their mode."""
    written = []
    for each in files:
        dest, mode = Path(each["dest"]), int(each["mode"], 8)
        data = base64.b64decode(each["content"])
        need = needs(dest, data, mode, each["force"])
        if need is None:
            continue
        written.append(str(dest))
        if check:
            continue
        try:
            if need == "write":
                write(dest, data, mode)
            else:
                dest.chmod(mode)
        except OSError as error:  # named by its dest, not by the file written beside it
            raise OSError(error.errno, error.strerror, str(dest)) from error
    return written


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    for each in params["directories"] + params["files"]:
        try:
            int(each["mode"], 8)
        except ValueError:
            where = each.get("path") or each["dest"]
            module.fail_json(msg=f"mode {each['mode']!r} of {where} is not octal")
    try:
        written = make(params["directories"], module.check_mode)
        written += install(params["files"], module.check_mode)
    except OSError as error:
        module.fail_json(msg=f"cannot install {error.filename}: {error.strerror}")
    module.exit_json(changed=bool(written), written=written)


if __name__ == "__main__":
    main()
