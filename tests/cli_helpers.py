from typer.testing import CliRunner

from rltune.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, *needles):
    """Non-zero exit, exactly one line on stderr, no traceback, the needles said."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [l for l in result.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    text = " ".join(result.stderr.split()).lower()
    for n in needles:
        assert n.lower() in text, result.stderr
