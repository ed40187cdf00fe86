"""Errors and warnings a user can cause.

The CLI prints an :class:`RLTuneError` as one line and exits non-zero, and an
:class:`RLTuneWarning` (raised with :func:`warn`) as one ``warning:`` line.
"""
import warnings


class RLTuneError(Exception):
    """A problem with the user's input (file, option, model), not a bug."""


class RLTuneWarning(UserWarning):
    """Something the user should know that does not stop the work (a skipped file, a cut primer)."""


def warn(message: str):
    warnings.warn(message, RLTuneWarning, stacklevel=2)
