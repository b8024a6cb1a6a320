"""Write the sample catalogue, inventory/catalogue/systems.yaml, from a fixed seed.

The generator itself is ``orchestrator.inventory.catalogue.generate_catalogue``,
shared with bench/ and the demo; this script only writes its output to a file.
Run it after changing the generator, then commit the file: a unit test
regenerates the catalogue and fails if the committed file differs.

    .venv/bin/python scripts/generate_catalogue.py [--count 560] [--seed 2020] [--output PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.inventory.catalogue import (
    DEFAULT_COUNT,
    DEFAULT_SEED,
    generate_catalogue,
    render_catalogue,
)
from orchestrator.inventory.loader import DEFAULT_CATALOGUE


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and write the catalogue."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="number of systems")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--output", type=Path, default=DEFAULT_CATALOGUE, help="file to write")
    args = parser.parse_args(argv)
    systems = generate_catalogue(args.count, args.seed)
    text = render_catalogue(systems, count=args.count, seed=args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {len(systems)} systems to {args.output}")


if __name__ == "__main__":
    main()
