#!/usr/bin/env bash
# Creates the project's virtual environment and installs govmig with its
# development tools. Idempotent: the Makefile reruns it when pyproject.toml changes.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "govmig needs Python 3.11 or newer; $python is $("$python" --version 2>&1)" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[dev]'
