"""The ways a command can end that the CLI distinguishes.

``UserError`` is bad input (config, command line, data files, run directories): the CLI prints its
one-line message and exits 2. ``RunFailure`` is a run that started fine and then failed (a diverging
loss): exit 1. ``Interrupted`` is SIGINT/SIGTERM during training, after the last checkpoint was
saved: exit 128 + the signal. Anything else is a bug and shows a traceback only with ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input; the message names the file, key or value and what is allowed (exit 2)."""

    exit_code = 2


class RunFailure(Exception):
    """A run that started and then could not go on (exit 1)."""

    exit_code = 1


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived during training; the last checkpoint on disk is consistent."""

    def __init__(self, signum: int, epoch: int, run_dir=None):
        super().__init__(signum, epoch)
        self.signum, self.epoch, self.run_dir = signum, epoch, run_dir

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        name = {2: "SIGINT", 15: "SIGTERM"}.get(self.signum, f"signal {self.signum}")
        return (f"interrupted by {name}; the checkpoint after epoch {self.epoch} is saved. "
                f"Continue with: dlnotes train --resume {self.run_dir}")


class ConvergenceWarning(UserWarning):
    """Gradient descent stopped while the loss was still falling (scikit-learn's warning of that name)."""


class BaselineWarning(UserWarning):
    """On a split, the model did worse than its task's trivial baseline (majority class, mean, last value)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or the list of choices when none is close."""
    choices = sorted(set(map(str, choices)))
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if len(choices) <= 12:
        return "; allowed: " + ", ".join(choices)
    return ""


def column_hint(name: str, columns: Iterable[str]) -> str:
    """``; did you mean 'Survived'?`` for a column named with another case, stray spaces or a typo; else
    ``; its columns are: ...``. For a config key that names a column (``data.target``, ``--target``,
    ``data.columns``, ``data.column``), as ``did_you_mean`` is for config keys."""
    cols = [str(c) for c in columns]
    word = str(name).strip().casefold()
    same = [c for c in cols if c.strip().casefold() == word]
    if same:
        return f"; did you mean '{same[0]}'? (column names are case-sensitive)"
    folded = {c.casefold(): c for c in cols}
    close = difflib.get_close_matches(word, list(folded), n=1, cutoff=0.75)
    if close:
        return f"; did you mean '{folded[close[0]]}'?"
    shown = ", ".join(cols[:20]) + (f", ... ({len(cols)} in all)" if len(cols) > 20 else "")
    return f"; its columns are: {shown}"


def path_note(path) -> str:
    """`` (relative to the working directory /home/x)`` for a relative path: where it was looked for."""
    import os

    return "" if os.path.isabs(str(path)) else f" (relative to the working directory {os.getcwd()})"
