"""``dlnotes lr-find`` and ``dlnotes sweep``: finding good settings from the shell (``dlnotes.tune``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from dlnotes.cli.app import OVERRIDES, app, check_device, guarded


@app.command("lr-find")
@guarded
def lr_find(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config file (read, never changed)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for lr_find.png and lr_find.csv "
                                       "[default: a new runs/<name>-lr_find-<time>/]."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [default: the config's]."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
    steps: int = typer.Option(100, "--steps", min=3, max=100_000, help="Batches, at most (fewer when the loss diverges)."),
    start_lr: float = typer.Option(1e-7, "--start-lr", help="The first batch's lr."),
    end_lr: float = typer.Option(10.0, "--end-lr", help="The last batch's lr."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    overrides: Optional[List[str]] = OVERRIDES,
):
    """Learning-rate range test (Smith 2017): the lr rises exponentially over ~100 batches from the
    initial weights, until the smoothed loss passes 4x its best; suggests two lrs.

    steepest: where the smoothed loss falls fastest; min_div10: the minimum's lr / 10. Nothing is
    trained or changed: the weights and RNG states are put back, the config is only read.

    Example: dlnotes lr-find --config configs/lenet_digits.yaml --out lr_lenet
    """
    check_device(device)
    from dlnotes.config import load_config
    from dlnotes.tune.lr_find import check_out

    cfg = load_config(config, list(overrides or []))  # config errors before torch
    check_out(out)  # and a folder that cannot take the results, before any work
    from dlnotes.engine.distributed import launched_rank
    from dlnotes.tune.lr_find import lr_find as range_test
    from dlnotes.tune.lr_find import save

    finding = range_test(cfg, device, quiet or as_json, start_lr, end_lr, steps)
    if launched_rank() != 0:  # under torchrun rank 0 writes and reports
        return
    figure = save(finding, cfg, out)
    if finding.note:
        typer.echo(f"warning: {finding.note}", err=True)
    if as_json:
        typer.echo(json.dumps({**finding.as_dict(), "figure": str(figure)}))
        return
    typer.echo(f"steepest   {finding.steepest:.3g}   (the smoothed loss falls fastest here)")
    typer.echo(f"min_div10  {finding.min_div10:.3g}   (the smoothed loss's minimum, / 10)")
    typer.echo(f"figure: {figure}")
    typer.echo(f"try: dlnotes train --config {config} train.optimizer.lr={finding.steepest:.3g}")


@app.command()
@guarded
def sweep(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config file: every trial starts from it."),
    space: Path = typer.Option(..., "--space", "-s", help="SPACE.yaml: parameters (dotted keys -> distributions), "
                               "method grid | random | tpe, metric, direction, prune."),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", min=1, help="Trials in the study "
                                         "[default: the space's trials, the grid's size, or 20]."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, max=256, help="Worker processes on this machine."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage shared by every worker: "
                                          "journal:PATH or a PostgreSQL/MySQL URL [default: journal:OUT/sweep.journal]."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name; the same --storage and --study join "
                                        "a running sweep [default: the config's name]."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the trials' runs and the results "
                                       "[default: a new runs/<name>-sweep-<time>/]; the same folder continues the sweep."),
    overrides: Optional[List[str]] = OVERRIDES,
):
    """Sweep a search space: each trial an ordinary run in OUT/trials/<number>/, then OUT/sweep.csv,
    OUT/best.yaml (the best trial's complete config), OUT/sweep.png and a table.

    K local workers share the study; on other machines, the same --storage and --study join it.

    Example: dlnotes sweep --config configs/lenet_digits.yaml --space space.yaml --trials 20 --workers 2
    """
    from dlnotes.tune.results import BEST, CSV, PNG, table
    from dlnotes.tune.sweep import prepare, run_sweep

    sw = prepare(config, space, list(overrides or []), trials, workers, storage, study, out)
    typer.echo(f"sweep: study '{sw.study}' in {sw.storage or 'this process (no Optuna)'}, "
               f"{sw.record['trials']} trials, val_{sw.record['metric']} ({sw.record['direction']}); "
               f"runs in {sw.out / 'trials'}", err=True)
    rows, best, code = run_sweep(sw)
    typer.echo(table(rows, list(sw.space.params), sw.record["metric"], sw.record["direction"] == "maximize"))
    typer.echo(f"results: {sw.out / CSV}, {sw.out / PNG}" + (f", {sw.out / BEST} (trial {best['trial']})"
                                                              if best else ""), err=True)
    if code:
        if code >= 128:
            typer.echo(f"sweep stopped; continue it with the same command (--out {sw.out})", err=True)
        raise typer.Exit(code)
