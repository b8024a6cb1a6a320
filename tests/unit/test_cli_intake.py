"""``govmig intake resume``: a request that cannot be sent is refused before anything is sent."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from orchestrator.cli import build_app
from orchestrator.errors import PermanentError

app = build_app()

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--reason", "two\nlines"], "--reason"),
        (["--requested-by", ""], "--requested-by"),
        (["--requested-by", "x" * 201], "--requested-by"),
    ],
    ids=["reason-with-a-newline", "empty-requester", "requester-too-long"],
)
def test_a_bad_option_is_one_clear_error_and_nothing_is_sent(args: list[str], words: str) -> None:
    # Port 1: had anything been sent, the error would be about the broker instead.
    result = runner.invoke(app, ["intake", "resume", *args, "--bootstrap-servers", "127.0.0.1:1"])
    assert isinstance(result.exception, PermanentError), result.output
    assert str(result.exception).startswith(words)
