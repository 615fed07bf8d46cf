"""``dlnotes train``, ``eval`` and ``predict``: the notes' train, test and apply steps from the shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from dlnotes.cli.app import OVERRIDES, app, check_device, guarded
from dlnotes.engine.launch import launched_rank, under_launcher
from dlnotes.errors import Interrupted, UserError
from dlnotes.outputs import check_output


@app.command()
@guarded
def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config file."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory [default: runs/<name>-<time>]."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [default: the config's]."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory."),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Processes to launch with torchrun (DDP)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    data: Optional[Path] = typer.Option(None, "--data", help="Quick start without a config: a CSV file (or image folder)."),
    target: Optional[str] = typer.Option(None, "--target", help="With --data FILE.csv: the column to predict."),
    model: Optional[str] = typer.Option(None, "--model", help="With --data: mlp (default), logistic_regression, "
                                                                "linear_regression or any registered model."),
    overrides: Optional[List[str]] = OVERRIDES,
):
    """Train a model: collect -> build -> train -> test, written to a run directory.

    Example: dlnotes train --config configs/lenet_digits.yaml train.epochs=5
    Quick start: dlnotes train --data examples/penguins.csv --target species (then edit RUN/config.yaml).
    """
    overrides = list(overrides or [])
    check_device(device)
    cfg = _train_config(config, resume, data, target, model, overrides)  # config errors come before torch
    from dlnotes.engine.progress import status

    torchrun = under_launcher()  # WORLD_SIZE > 1: a stray RANK alone is no launch
    status("starting: importing torch ...", quiet or launched_rank() != 0)  # torchrun: rank 0 speaks
    if resume is None and out is None:
        if torchrun:
            raise UserError("under torchrun give --out DIR: every process must write the same run folder")
        from dlnotes.run import default_out

        out = default_out(cfg)  # made here, so that every process of an --nproc run agrees on it
        launch_args = ["--out", str(out)]
    else:
        launch_args = []
    if nproc > 1:
        from dlnotes.engine.launch import launch

        raise typer.Exit(launch(nproc, sys.argv[1:] + launch_args))

    try:
        run = _run(cfg, out, device, resume, overrides, quiet, quick=data is not None and not torchrun,
                   named=model is not None or any(o.strip().startswith("model.") for o in overrides))
    except Interrupted as e:
        e.run_dir = resume or out
        raise
    if launched_rank() == 0:  # under torchrun only rank 0 reports
        typer.echo(f"run: {run.path}")
        typer.echo("test: " + run.task.summary(run.metrics, run.meta["dataset"].get("target_name")))


def _run(cfg, out, device, resume, overrides, quiet, quick: bool, named: bool):
    """The training: the quick start (``dlnotes.quick``: never worse than a linear model unless a model is
    named), or the config's run."""
    if quick:
        from dlnotes.quick import quick_train

        return quick_train(cfg, out, device=device, quiet=quiet, compare=not named)
    from dlnotes.run import train as run_train

    return run_train(cfg, out=out, device=device, resume=resume,
                     overrides=overrides if resume is not None else None, quiet=quiet)


def _train_config(config, resume, data, target, model, overrides):
    """The config a training starts from (None for --resume, which uses the run's own), from exactly one
    of --config, --data (the quick start) and --resume."""
    if data is not None and (config is not None or resume is not None):
        raise UserError("--data starts a run without a config; give it without --config and --resume")
    if data is None and (target is not None or model is not None):
        raise UserError("--target and --model go with --data FILE.csv (a config names them as data.target, model.name)")
    if config is None and resume is None and data is None:
        raise UserError("train needs --config FILE, --data FILE.csv --target COL, or --resume DIR")
    if config is not None and resume is not None:
        raise UserError("give either --config or --resume, not both (a resumed run uses its own config.yaml)")
    from dlnotes.config import load_config, quick_config

    if data is not None:
        return quick_config(data, target, model, overrides)
    return load_config(config, overrides) if resume is None else None


@app.command("eval")
@guarded
def eval_(
    run: Path = typer.Option(..., "--run", "-r", help="Run directory."),
    split: str = typer.Option("test", "--split", help="test | val | train"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [default: cpu]."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON only."),
):
    """Recompute a run's metrics from its saved weights.

    Example: dlnotes eval --run runs/lenet_digits-20260101-120000 --json
    """
    if split not in ("test", "val", "train"):
        raise UserError(f"--split '{split}': allowed: test, val, train")
    check_device(device)
    from dlnotes.run import Run

    loaded = Run.load(run, device=device)
    metrics = loaded.evaluate(split)
    if as_json:
        from dlnotes.atomic import dumps

        typer.echo(dumps(metrics))  # strict JSON: a NaN metric is null
        return
    for k, v in metrics.items():
        if isinstance(v, (int, float)):
            typer.echo(f"{k:>12}  {v:.6f}")
    if "baseline" in metrics:
        base = metrics["baseline"]
        typer.echo(f"baseline ({base['name']}): " + "  ".join(f"{k}={v:.6f}" for k, v in base.items() if k != "name"))
    if "confusion_matrix" in metrics:
        from dlnotes.tasks.classification import confusion_text

        typer.echo(confusion_text(metrics["confusion_matrix"], loaded.meta["dataset"].get("classes") or []))
    if metrics.get("most_confused"):
        typer.echo("most confused (true -> predicted: count): " + ", ".join(
            f"{p['true']} -> {p['predicted']}: {p['count']}" for p in metrics["most_confused"]))


@app.command()
@guarded
def predict(
    run: Path = typer.Option(..., "--run", "-r", help="Run directory."),
    input: str = typer.Option(..., "--input", "-i", help="Image file or folder, CSV, .npy, or a text prompt."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV file to write [default: stdout; "
                                          "text models print the continuation as plain text]."),
    top_k: int = typer.Option(0, "--top-k", min=0, help="Also write the k most likely classes."),
    steps: int = typer.Option(0, "--steps", min=0, help="Forecasting: roll out this many steps; text: characters "
                              "[default: the horizon; 200 characters]."),
    figure: Optional[Path] = typer.Option(None, "--figure", help="Forecasting: also draw the series read and its "
                                          "forecast into this new PNG file."),
    temperature: float = typer.Option(0.8, "--temperature", min=0.0,
                                      help="Text: sampling temperature; 0 picks the likeliest character."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Text: the sampling seed [default: the run's seed]."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [default: cpu]."),
):
    """Apply a trained model to new inputs; writes CSV input,prediction[,probability].

    A language model's continuation is printed as plain text (a CSV with --output). Every output is
    checked before anything is written, and a command writes all of its outputs or none.

    Example: dlnotes predict --run runs/lenet_digits-20260101-120000 --input digit.png
    Example: dlnotes predict --run runs/lstm_sine-20260101-120000 --input last.csv --steps 20 --figure f.png
    """
    check_device(device)
    if not (temperature == 0 or MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise UserError(f"--temperature {temperature:g}: must be 0 (always the likeliest character) or in "
                        f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]; tinier values underflow to NaN probabilities")
    inputs = _input_files(input)
    if output is not None:
        check_output(output, "--output", inputs, [run])
    if figure is not None:
        check_output(figure, "--figure", inputs + ([output] if output is not None else []), [run], new=True)
    from dlnotes.engine.predict import to_csv
    from dlnotes.outputs import write_all
    from dlnotes.run import Run

    loaded = Run.load(run, device=device)
    if figure is not None and not loaded.task.draws_predictions:
        raise UserError(f"--figure: a {loaded.task.name} run has no figure of its predictions (forecasting runs do)")
    rows = loaded.predict(input, top_k=top_k, steps=steps, temperature=temperature, seed=seed)
    plain = output is None and loaded.task.plain_text
    text = "".join(r["prediction"] for r in rows) + "\n" if plain else to_csv(rows)
    writes = [] if figure is None else [(figure, lambda p: loaded.predict_figure(input, p, steps))]
    write_all(writes + ([(output, text)] if output is not None else []))  # all or nothing
    if output is None:
        sys.stdout.write(text)
    else:
        typer.echo(f"wrote {len(rows)} rows to {output}", err=True)
    if figure is not None:
        typer.echo(f"wrote the figure of history and forecast to {figure}", err=True)


def _input_files(given: str) -> list[Path]:
    """The files ``--input`` names (a file, or every file below a folder): what no output may replace."""
    path = Path(given)
    try:
        if path.is_file():
            return [path]
        if path.is_dir():
            return [p for p in path.rglob("*") if p.is_file()]
    except OSError:  # an unreadable folder: predict says so when it reads it
        pass
    return []


MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3


