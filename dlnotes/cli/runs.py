"""``dlnotes plot``, ``runs``, ``compare`` and ``export``: looking at finished runs and taking them out."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from dlnotes.cli.app import app, guarded
from dlnotes.outputs import check_output
from dlnotes.errors import UserError


@app.command()
@guarded
def plot(
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Run directory."),
    activations: bool = typer.Option(False, "--activations", help="Draw sigmoid, tanh, ReLU and Leaky ReLU "
                                     "with their derivatives (no run needed)."),
    output: Path = typer.Option(Path("activations.png"), "--output", "-o", help="File for --activations."),
):
    """(Re)draw a run's figures into RUN/plots/, or the notes' activation functions.

    Example: dlnotes plot --run runs/lenet_digits-20260101-120000
    Example: dlnotes plot --activations --output activations.png
    """
    if activations:
        check_output(output, "--output", runs=[run] if run is not None else [])
        from dlnotes.plots import activation_functions

        typer.echo(str(activation_functions(output)))
        if run is None:
            return
    if run is None:
        raise UserError("plot needs --run DIR (or --activations)")
    from dlnotes.run import Run

    for path in Run.load(run).plot():
        typer.echo(str(path))


@app.command()
@guarded
def export(
    run: Path = typer.Option(..., "--run", "-r", help="Run directory."),
    fmt: str = typer.Option(..., "--format", "-f", help="onnx | torch_export | torchscript"),
    output: Path = typer.Option(..., "--output", "-o", help="File to write (e.g. model.onnx, model.pt2, model.pt)."),
    steps: int = typer.Option(0, "--steps", min=0, help="Forecasting: values the graph rolls out [default: the "
                              "horizon]."),
):
    """Export a run's whole model: raw inputs in, answers in your units out, any batch size.

    Inside: the normalisation, a table's imputation and encoding, a series' transform and its inverse, the
    softmax. dlnotes.inputs.prepare(meta, inputs) makes its inputs from files; the file carries the run's
    description as 'dlnotes' metadata.

    Example: dlnotes export --run runs/lenet_digits-20260101-120000 --format onnx --output lenet.onnx
    """
    check_output(output, "--output", runs=[run])
    from dlnotes.run import Run

    typer.echo(str(Run.load(run).export(fmt, output, steps)))


@app.command()
@guarded
def runs(
    paths: Optional[List[Path]] = typer.Argument(None, help="Run directories, or folders holding them "
                                                 "[default: runs/].", show_default=False),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort by a column: the metric (e.g. accuracy), "
                                       "seconds, epochs, or a config key (e.g. model.activation)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
):
    """Table of runs: the config keys that differ between them, the test metric beside its baseline, time.

    Example: dlnotes runs runs/ --sort accuracy
    Example: dlnotes runs runs/lenet-relu runs/lenet-tanh
    """
    from dlnotes.runs_table import as_json as rows_json
    from dlnotes.runs_table import collect_runs, format_table

    rows, keys = collect_runs(list(paths or [Path("runs")]), sort)
    from dlnotes.atomic import dumps

    typer.echo(dumps(rows_json(rows, keys)) if as_json else format_table(rows, keys))


@app.command()
@guarded
def compare(
    paths: List[Path] = typer.Argument(..., help="Two or more run directories (or folders holding them)."),
    output: Path = typer.Option(Path("compare.png"), "--output", "-o", help="PNG file to write."),
):
    """Learning curves of several runs on one figure, each labelled by the config keys that differ.

    Example: dlnotes compare runs/lenet-relu runs/lenet-tanh --output relu_vs_tanh.png
    """
    from dlnotes.runs_table import compare as compare_runs

    typer.echo(str(compare_runs(list(paths), output)))


