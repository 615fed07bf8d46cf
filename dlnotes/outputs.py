"""Where a command may write: an output never replaces one of its inputs or a file of a run.

Every file a command writes for the user (``--output``, ``--figure``) is checked here before anything is
written, after resolving links: not a folder, in a folder that exists and is writable, not one of the
command's input files, not a file a run directory owns (its config, meta.json, weights, checkpoint,
figures...), and, where asked, not an existing file at all. ``write_all`` then writes several outputs as
one step: if a later one fails, the earlier new ones are removed again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from dlnotes.errors import UserError


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_output(path: str | Path, flag: str, inputs: Iterable[str | Path] = (), runs: Iterable[str | Path] = (),
                 new: bool = False) -> Path:
    """Refuses (exit 2, one line) an output ``path`` that cannot or must not be written; returns it."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} '{path}' is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise UserError(f"{flag} '{path}' exists and is not a regular file")
    if new and os.path.lexists(path):
        raise UserError(f"{flag} '{path}' exists; dlnotes does not write over it (give a new name or remove it)")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"{flag} '{path}': folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{flag} '{path}': no permission to write there")
    target = _resolved(path)
    for given in inputs:
        if _resolved(Path(given)) == target:
            raise UserError(f"{flag} '{path}' is the input '{given}'; writing it would replace your data "
                            "(give another file name)")
    for run in runs:
        from dlnotes.engine.rundir import RunDir

        owner = RunDir(_resolved(Path(run)))
        if owner.owns(target):
            raise UserError(f"{flag} '{path}' is a file of the run '{run}'; writing it would damage the run "
                            "(write outside the run's own files)")
    return path


def write_all(outputs: list[tuple[Path, "bytes | str | callable"]]) -> None:
    """Writes each ``(path, data)`` in order (data, or a function that writes ``path`` itself); when one
    fails, the files written before it that did not exist before are removed again."""
    from dlnotes import atomic

    made: list[Path] = []
    try:
        for path, data in outputs:
            existed = path.exists()
            if callable(data):
                data(path)
            else:
                atomic.atomic_write(path, data)
            if not existed:
                made.append(path)
    except BaseException:
        for path in made:
            atomic.remove(path)
        raise
