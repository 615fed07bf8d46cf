"""``dlnotes ARGS`` run in the test's own process: the exit code, stdout and stderr a user would see, without
an interpreter start and torch's import (~3 s of CPU each). The one implementation behind conftest's
``in_process`` fixture and the refusal suites' ``call``; imported by its own name (pytest puts tests/ on
sys.path), never as ``tests.<module>``, which an installed package shipping ``tests`` would shadow."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock


def call(*args) -> tuple[int, str, str]:
    """``dlnotes ARGS`` in this process: (exit code, stdout, stderr)."""
    from dlnotes import cli

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["dlnotes", *map(str, args)]), redirect_stdout(out), redirect_stderr(err):
        try:
            cli.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str, *culprits: str) -> str:
    """Asserts exit 2 and one ``error:`` line naming every culprit (case-sensitive); returns the line."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for c in culprits:
        assert c in lines[0], f"{c!r} not in {lines[0]}"
    return lines[0]
