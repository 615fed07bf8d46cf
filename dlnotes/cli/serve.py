"""``dlnotes serve``: trained runs answered over HTTP (a JSON API and a page at ``/``); see ``dlnotes.serve``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dlnotes.cli.app import app, check_device, guarded
from dlnotes.errors import UserError


@app.command()
@guarded
def serve(
    run: List[Path] = typer.Option(..., "--run", "-r", help="Run directory to serve (repeat for several)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on [default: this machine only]."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on (0: any free one)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [default: cpu]."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request to stderr."),
):
    """Serve trained runs: POST /predict (JSON), GET /info, GET /health, and a page to try them at /.

    Every run is loaded (and checked) before the server answers: a bad --run is exit 2 at start.
    The runs are named by their folder's name; a request names one in "run" when several are served.

    Example: dlnotes serve --run runs/lenet_digits-20260101-120000, then open http://127.0.0.1:8000/

    Example: curl -s localhost:8000/predict -F file=@digit.png
    """
    check_device(device)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as e:
        raise UserError(f"dlnotes serve needs the optional package '{e.name}': pip install 'dlnotes[serve]'") from None
    from dlnotes.serve import load_runs
    from dlnotes.serve.server import serve_forever

    serve_forever(load_runs(run, device), host, port, access_log)
