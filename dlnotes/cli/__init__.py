"""The ``dlnotes`` command line: parses, loads the config, calls the pipeline. No training logic here.

``app`` (``dlnotes.cli.app``) holds the Typer application and the one place where exceptions become
exit codes; each module beside it adds one group of commands.
"""

from dlnotes.cli import pipeline, info, runs  # noqa: F401, I001  (each registers its commands, in this order)
from dlnotes.cli import serve  # noqa: F401, E402  (serve: HTTP API and page)
from dlnotes.cli import explain  # noqa: F401, E402
from dlnotes.cli import tune  # noqa: F401, E402  (lr-find, sweep)
from dlnotes.cli.app import app, main

__all__ = ["app", "main"]
