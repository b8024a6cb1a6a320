"""Wall time of one batch moved through every forward phase, with and without Mitogen.

A quick measurement beside the executor (to become ``bench/wave.py``): it
prepares N sources under a temporary work root, runs preflight → verify as one
batch per phase on one node, once with ``mitogen_linear`` and once with
``linear``, and prints the seconds per phase and the ratio. Run it with
``python -m orchestrator.execution.measure_wave --systems 50``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from orchestrator.execution.local_sandbox import DEFAULT_PLAYBOOK_DIR, prepare_source, stop_services
from orchestrator.execution.runner import PhaseRunner
from orchestrator.execution.targets import NodeTarget, SystemTarget
from orchestrator.migrations.states import FORWARD_PHASES

NODE = NodeTarget(node_id="shantou", ipv6_prefix="2001:db8:1::/48")


def batch(count: int) -> list[SystemTarget]:
    """``count`` modest systems that all fit on the node."""
    return [
        SystemTarget(
            system_id=f"bench-{index:04d}",
            vcpu=4,
            memory_gb=16,
            storage_gb=200,
            ipv6_index=index + 1,
            free_vcpu=1000,
            free_memory_gb=4000,
            free_storage_gb=50_000,
        )
        for index in range(count)
    ]


def one_wave(
    base: Path, systems: list[SystemTarget], *, mitogen: bool, forks: int
) -> dict[str, float]:
    """Seconds per phase (and in total) for one batch through every forward phase."""
    work = base / ("mitogen" if mitogen else "linear")
    for system in systems:
        prepare_source(work, system.system_id, 4, 32_000, seed="bench")
    runner = PhaseRunner(
        playbook_dir=DEFAULT_PLAYBOOK_DIR,
        artifacts_dir=base / "artifacts",
        work_root=work,
        use_mitogen=mitogen,
        forks=forks,
    )
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        for phase in FORWARD_PHASES:
            result = runner.run(phase, NODE, systems)
            if not result.ok:
                raise SystemExit(f"{phase} failed: {[o for o in result.outcomes if not o.ok][:3]}")
            timings[phase.value] = round(result.duration_s, 2)
        timings["total"] = round(time.monotonic() - started, 2)
        timings["strategy_mitogen"] = float(runner.strategy.name == "mitogen_linear")
    finally:
        stop_services(work)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--systems", type=int, default=50)
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args()
    systems = batch(args.systems)
    with tempfile.TemporaryDirectory(prefix="govmig-wave-") as tmp:
        with_mitogen = one_wave(Path(tmp), systems, mitogen=True, forks=args.forks)
        without = one_wave(Path(tmp), systems, mitogen=False, forks=args.forks)
    report = {
        "systems": args.systems,
        "forks": args.forks,
        "mitogen": with_mitogen,
        "linear": without,
        "speedup": round(without["total"] / with_mitogen["total"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
