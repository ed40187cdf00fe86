"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class RLTuneError(Exception):
    """A problem with the user's input (file, option, model), not a bug."""
