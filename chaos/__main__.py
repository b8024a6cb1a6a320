"""``python -m chaos``: run the scenarios, print the table, exit 1 on any loss."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from chaos.figures import Figures, table
from chaos.rig import Rig, is_root
from chaos.scenarios import SCENARIOS, Scenario


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--short", action="store_true", help="a few faults each (make test)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[s.name for s in SCENARIOS],
        help="run only these (repeatable); default all",
    )
    parser.add_argument("--json", action="store_true", help="the figures as JSON, not a table")
    parser.add_argument("--keep", type=Path, help="work in this new directory and keep it (logs)")
    parser.add_argument(
        "--bootstrap-servers",
        help="use this Kafka broker instead of starting one (broker-restart cannot run then)",
    )
    return parser.parse_args(argv)


def run_one(rig: Rig, scenario: Scenario, short: bool) -> Figures:
    """The scenario's figures; a scenario that broke is a failed row, not a crash."""
    if scenario.lab and not is_root():
        return Figures(scenario.name, ran=False, notes=["NOT RUN: the lab needs root"])
    started = time.monotonic()
    try:
        return scenario.run(rig, short)
    except Exception as error:  # reported in its row; the other scenarios still run
        traceback.print_exc(file=sys.stderr)
        figures = Figures(scenario.name, error=f"{type(error).__name__}: {error}"[:2000])
        figures.seconds = time.monotonic() - started
        return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    chosen = [
        s
        for s in SCENARIOS
        if (s.name in args.scenario if args.scenario else s.short or not args.short)
    ]
    with tempfile.TemporaryDirectory(prefix="govmig-chaos-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        rig = Rig(base, args.bootstrap_servers)
        try:
            rows = [run_one(rig, scenario, args.short) for scenario in chosen]
        finally:
            rig.close()
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
    else:
        print(table(rows))
    not_run = [row.scenario for row in rows if not row.ran]
    if not_run:
        print(f"not run (counted as failed): {', '.join(not_run)}", file=sys.stderr)
    return 1 if not_run or any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
