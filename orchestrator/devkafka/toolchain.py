"""Finding the machine's Java and Maven, the two programs the development broker needs.

``path`` is the search path (None means ``$PATH``), so tests can simulate a
machine without them. Each failure says what to install.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from orchestrator.devkafka.render import MIN_JAVA_MAJOR, parse_java_major
from orchestrator.errors import ConfigurationError

JAVA_PACKAGE = "openjdk-17-jre-headless"
_VERSION_TIMEOUT_S = 30.0


def find_java(path: str | None = None) -> Path:
    """The ``java`` on ``path``, checked to be new enough for Kafka 4."""
    found = shutil.which("java", path=path)
    if found is None:
        raise ConfigurationError(
            f"java not found on PATH: install a Java {MIN_JAVA_MAJOR}+ runtime "
            f"(apt-get install {JAVA_PACKAGE})"
        )
    java = Path(found)
    _check_java_version(java)
    return java


def find_mvn(path: str | None = None) -> Path:
    """The ``mvn`` on ``path``; only needed while the broker's jars are not cached yet."""
    found = shutil.which("mvn", path=path)
    if found is None:
        raise ConfigurationError(
            "mvn not found on PATH: Maven resolves the Kafka broker's jars from Maven Central "
            "the first time; install it (apt-get install maven)"
        )
    return Path(found)


def _check_java_version(java: Path) -> None:
    try:
        done = subprocess.run(
            [str(java), "-version"],
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigurationError(
            f"{java} does not run ({error}): reinstall {JAVA_PACKAGE}"
        ) from error
    # java prints its version on stderr; an unrecognised vendor format gets the benefit of doubt.
    major = parse_java_major(done.stderr + done.stdout)
    if major is not None and major < MIN_JAVA_MAJOR:
        raise ConfigurationError(
            f"{java} is Java {major}, but Kafka 4 needs Java {MIN_JAVA_MAJOR}+: "
            f"install {JAVA_PACKAGE} and put it first on PATH"
        )
