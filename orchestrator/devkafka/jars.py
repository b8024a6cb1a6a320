"""The broker's classpath: resolved from Maven Central with ``mvn`` once, then reused.

Layout under the cache directory::

    <cache>/<version>/pom.xml          generated, lists kafka_2.13 and the log4j binding
    <cache>/<version>/libs/            every runtime jar
    <cache>/<version>/libs.complete    sha256 of the pom, written only after a full copy

A resolve that dies half-way leaves no marker, so the next start redoes it; a
changed pom (new logging deps) changes the digest and redoes it too. A file
lock keeps two starts on one machine (two test sessions) from resolving at once.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from orchestrator.devkafka.layout import exclusive
from orchestrator.devkafka.render import render_pom, tail_lines
from orchestrator.devkafka.toolchain import find_mvn
from orchestrator.errors import ConfigurationError

# Generous: the first resolve downloads ~40 MB, but a hung mirror must still end.
RESOLVE_TIMEOUT_S = 600.0
# `-Dstyle.color=never` still leaves a few resets behind.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ensure_jars(cache_dir: Path, version: str, *, path: str | None = None) -> Path:
    """The directory of the broker's jars for ``version``, resolving them if not cached."""
    home = cache_dir.expanduser().absolute() / version
    pom = render_pom(version)
    digest = hashlib.sha256(pom.encode("utf-8")).hexdigest()
    if _is_complete(home, digest):
        return home / "libs"
    with exclusive(home / ".lock"):
        if not _is_complete(home, digest):  # another process may have finished meanwhile
            _resolve(home, pom, digest, version=version, mvn=find_mvn(path))
    return home / "libs"


def _is_complete(home: Path, digest: str) -> bool:
    marker = home / "libs.complete"
    try:
        return marker.read_text(encoding="utf-8").strip() == digest
    except FileNotFoundError:
        return False


def _resolve(home: Path, pom: str, digest: str, *, version: str, mvn: Path) -> None:
    marker, libs, staging = home / "libs.complete", home / "libs", home / "libs.partial"
    marker.unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    (home / "pom.xml").write_text(pom, encoding="utf-8")
    _run_mvn(mvn, home / "pom.xml", staging, version=version)
    if not (staging / f"kafka_2.13-{version}.jar").is_file():
        raise ConfigurationError(
            f"mvn finished but {staging} has no kafka_2.13-{version}.jar: "
            f"delete {home} and run again"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(digest + "\n", encoding="utf-8")


def _run_mvn(mvn: Path, pom: Path, output_dir: Path, *, version: str) -> None:
    command = [
        str(mvn),
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
        "-DincludeScope=runtime",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise ConfigurationError(
            f"mvn did not resolve org.apache.kafka:kafka_2.13:{version} within "
            f"{RESOLVE_TIMEOUT_S:.0f} s: check the network or the mirror in ~/.m2/settings.xml"
        ) from error
    if done.returncode != 0:
        raise ConfigurationError(
            f"mvn could not resolve org.apache.kafka:kafka_2.13:{version} from Maven Central "
            f"(exit {done.returncode}): check the version and the network. mvn said:\n"
            + summarize_mvn_output(done.stdout + done.stderr)
        )


def summarize_mvn_output(text: str) -> str:
    """The error lines of a failed ``mvn -q`` run, without colours or its generic advice."""
    lines = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
    errors: list[str] = []
    for line in lines:
        if not line.startswith("[ERROR]"):
            continue
        if not line.removeprefix("[ERROR]").strip():
            break  # Maven's boilerplate ("re-run with -e", "[Help 1]") follows the first blank
        errors.append(line)
    return "\n".join(errors) or tail_lines("\n".join(line for line in lines if line))
