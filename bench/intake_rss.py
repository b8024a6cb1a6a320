"""Peak memory of the intake: a fresh process registers 10,000 systems and reports its peak RSS.

Run as a child (``python -m bench.intake_rss ...``) so the figure is the
intake's own, not the benchmark's, which holds every encoded record: the child
imports what ``govmig run`` imports, builds the ``IntakeRig`` on a topic that
already holds the registrations, consumes them all into a fresh SQLite store,
and prints one JSON line with the kernel's ``VmHWM`` (``/proc/self/status``)
and ``ru_maxrss``, both in KiB.

``VmHWM`` is the figure reported: ``ru_maxrss`` of an exec'd child starts from
its parent's resident size at the fork, here the benchmark's own (every
encoded record), so it measured the parent. It is kept as the fallback where
there is no ``/proc``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.intake_kafka import REPO, settings_for
from bench.intake_rig import IntakeRig

CHILD_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class PeakMemory:
    """The child's peak resident set (``VmHWM``), and how many systems it held then."""

    peak_rss_mb: float
    ru_maxrss_mb: float
    systems: int
    seconds: float


def measure_peak_memory(
    bootstrap_servers: str, *, events_topic: str, status_topic: str, dlq_topic: str, expected: int
) -> PeakMemory:
    """Run the child over ``events_topic`` (holding ``expected`` registrations); its figures."""
    command = [
        sys.executable, "-m", "bench.intake_rss",
        "--bootstrap-servers", bootstrap_servers,
        "--events-topic", events_topic,
        "--status-topic", status_topic,
        "--dlq-topic", dlq_topic,
        "--expected", str(expected),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the peak-memory child failed ({done.returncode}):\n{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    peak_kib = report["vm_hwm_kib"] or report["ru_maxrss_kib"]
    return PeakMemory(
        peak_rss_mb=peak_kib / 1024,
        ru_maxrss_mb=report["ru_maxrss_kib"] / 1024,
        systems=report["systems"],
        seconds=report["seconds"],
    )


def _vm_hwm_kib() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _child(arguments: argparse.Namespace) -> dict[str, object]:
    settings = settings_for(
        arguments.bootstrap_servers,
        events=arguments.events_topic,
        status=arguments.status_topic,
        dlq=arguments.dlq_topic,
    )
    with (
        tempfile.TemporaryDirectory(prefix="govmig-bench-rss-") as workdir,
        IntakeRig(settings, Path(workdir) / "govmig.db") as rig,
    ):
        timed = rig.consume(arguments.events_topic, arguments.expected)
        systems = sum(rig.states().values())
    return {
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "vm_hwm_kib": _vm_hwm_kib(),
        "systems": systems,
        "seconds": timed.seconds,
    }


def main(argv: list[str] | None = None) -> None:
    """The child's entry point: consume, then print the JSON report line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--events-topic", required=True)
    parser.add_argument("--status-topic", required=True)
    parser.add_argument("--dlq-topic", required=True)
    parser.add_argument("--expected", type=int, required=True)
    print(json.dumps(_child(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
