"""``dlnotes explain``: what a trained model computes for one input, as figures and arrays in the run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dlnotes.cli.app import app, check_device, guarded


@app.command()
@guarded
def explain(
    run: Path = typer.Option(..., "--run", "-r", help="Run directory."),
    input: str = typer.Option(..., "--input", "-i", help="One image, CSV or sequence file (a text model: a prompt)."),
    layer: Optional[str] = typer.Option(None, "--layer", help="Grad-CAM's layer, by the name `dlnotes summary` "
                                        "prints [default: the last conv layer's activation]."),
    target: Optional[str] = typer.Option(None, "--target", help="Also explain this class (a name or number)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [default: cpu]."),
):
    """Look inside a trained model for one input; writes figures and explain.npz into RUN/explain/<input stem>/.

    Images: feature maps of every conv and pool layer, first-layer filters, LRN's effect, Grad-CAM and
    saliency. Sequences: the gates and states of LSTM/GRU layers over time. Tables: each feature's
    contribution (linear models) or permutation importance.

    Example: dlnotes explain --run runs/lenet_digits-20260101-120000 --input digit.png --target 7
    """
    check_device(device)
    from dlnotes.explain.report import explain as explain_input
    from dlnotes.run import Run

    folder, files, lines = explain_input(Run.load(run, device=device), input, layer, target)
    for line in lines:
        typer.echo(line, err=True)
    for path in files:
        typer.echo(str(path))
    typer.echo(f"wrote {len(files)} files to {folder}", err=True)
