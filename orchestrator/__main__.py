"""``python -m orchestrator``: the same CLI as the ``govmig`` console script."""

from orchestrator.cli import main

main()
