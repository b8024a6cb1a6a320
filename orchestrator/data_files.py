"""Where the product's shipped files are: phase playbooks, inventory and event schemas.

The one place that finds them. ``orchestrator/_data/`` holds symbolic links to the
repository's top-level ``playbooks/``, ``inventory/`` and ``events/schemas/`` (where
users and the docs look for them); building a wheel copies the files behind the
links into the package (``[tool.setuptools.package-data]``). So the same path works
in a source checkout, an editable install and an installed wheel, from any
working directory. Nothing here reads the environment: an operator's own
inventory comes in through ``--inventory``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

# Resolved, so a checkout reports the top-level folders users know, not the links.
_DATA: Final = Path(__file__).resolve().parent / "_data"

PLAYBOOK_DIR: Final = (_DATA / "playbooks").resolve()
INVENTORY_DIR: Final = (_DATA / "inventory").resolve()
SCHEMA_DIR: Final = (_DATA / "schemas").resolve()
