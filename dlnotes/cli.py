"""The ``dlnotes`` command line: parses, loads the config, calls the pipeline. No training logic here.

Exit codes: 0 success; 2 bad input (one plain line, no traceback); 1 a failure during the run
(``--debug`` or DLNOTES_DEBUG=1 shows the traceback); 130/143 interrupted by SIGINT/SIGTERM; 141 the
reader of stdout went away (``dlnotes eval ... | head``). ``main`` and ``guarded`` are the one place
where exceptions become exit codes: usage errors of the command line, ``UserError``, an ``OSError``
on a path the user gave, a missing optional extra (all exit 2), ``RunFailure`` (exit 1).
Heavy libraries (torch, sklearn) are imported inside the commands that need them, so ``--help``,
``models``, ``datasets`` and config errors answer at once.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer

from dlnotes.errors import Interrupted, RunFailure, UserError

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                  help="Train, test and apply the models of a deep-learning course.\n\n"
                       "Example: dlnotes train --config configs/lenet_digits.yaml")

_debug = {"on": os.environ.get("DLNOTES_DEBUG", "") not in ("", "0")}


# optional packages -> the extra of pyproject.toml that installs them
EXTRAS = {"onnx": "export", "onnxruntime": "export", "onnxscript": "export", "tensorboard": "tensorboard"}
SIGPIPE_EXIT = 128 + getattr(signal, "SIGPIPE", 13)


def _fail(message: str, code: int) -> None:
    message = " ".join(str(message).split())  # one line, whatever the exception held
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _quiet_broken_pipe() -> None:
    """stdout's reader has gone (``| head``): drop what is left and exit as a process killed by SIGPIPE would."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass
    raise typer.Exit(SIGPIPE_EXIT)


def _os_error(e: OSError) -> str:
    """``cannot write '/ro/out.csv': Permission denied``: an OSError as one line naming the path."""
    path = e.filename2 if e.errno == errno.EISDIR and e.filename2 else e.filename
    reason = e.strerror or type(e).__name__
    if isinstance(path, (bytes, int)):
        path = os.fsdecode(path) if isinstance(path, bytes) else None
    if path is None:
        return reason
    if not os.path.isabs(path):
        reason += f" (relative to the working directory {os.getcwd()})"
    return f"'{path}': {reason}"


def guarded(fn):
    """Runs a command body, turning dlnotes' exceptions into exit codes and one-line messages."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except UserError as e:
            if _debug["on"]:
                raise
            _fail(str(e), 2)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except ModuleNotFoundError as e:
            extra = EXTRAS.get((e.name or "").split(".")[0])
            if extra is None or _debug["on"]:
                raise
            _fail(f"this needs the optional package '{e.name}': pip install 'dlnotes[{extra}]'", 2)
        except OSError as e:
            if _debug["on"]:
                raise
            if e.filename is None:  # not about a path: a failure during the run, not bad input
                _fail(f"{type(e).__name__}: {e} (run with --debug for the traceback)", 1)
            _fail(_os_error(e), 2)
        except RecursionError:
            if _debug["on"]:
                raise
            _fail("an input is nested too deeply to read", 2)
        except RunFailure as e:
            if _debug["on"]:
                raise
            _fail(str(e), 1)
        except Interrupted as e:
            typer.echo(str(e), err=True)
            raise typer.Exit(e.exit_code)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130)
        except Exception as e:  # noqa: BLE001
            if _debug["on"]:
                raise
            _fail(f"{type(e).__name__}: {e} (run with --debug for the traceback)", 1)

    return wrapper


@app.callback()
def main_options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks of failures.")):
    if debug:
        _debug["on"] = True
    _show_warnings()


OVERRIDES = typer.Argument(None, help="Dotted overrides, e.g. train.epochs=3 model.activation=tanh", show_default=False)


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
    Quick start: dlnotes train --data examples/penguins.csv --target species (the run's config.yaml
    then holds the whole config, to edit and re-run with --config).
    """
    overrides = list(overrides or [])
    _check_device(device)
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
        cfg = quick_config(data, target, model, overrides)
    elif resume is None:
        cfg = load_config(config, overrides)  # config errors surface before torch is imported
    from dlnotes.engine.progress import status

    status("starting: importing torch ...", quiet or os.environ.get("RANK", "0") != "0")  # torchrun: rank 0 speaks
    from dlnotes.run import default_out

    out_given = out is not None
    if resume is None and out is None:
        out = default_out(cfg)  # fixed here, so that every process of a DDP run agrees on it
    if nproc > 1:
        from dlnotes.engine.launch import launch

        argv = sys.argv[1:] + (["--out", str(out)] if resume is None and not out_given else [])
        raise typer.Exit(launch(nproc, argv))
    from dlnotes.engine.distributed import launched_rank
    from dlnotes.run import train as run_train

    target = resume or out
    try:
        run = run_train(cfg if resume is None else None, out=out, device=device, resume=resume,
                        overrides=overrides if resume is not None else None, quiet=quiet)
    except Interrupted as e:
        e.run_dir = target
        raise
    if launched_rank() != 0:  # under torchrun only rank 0 reports
        return
    typer.echo(f"run: {run.path}")
    typer.echo("test: " + run.task.summary(run.metrics))


def _show_warnings() -> None:
    """dlnotes' own warnings (ConvergenceWarning, BaselineWarning) read as one line, "warning: ...",
    not in Python's file:line form."""
    import warnings

    from dlnotes.errors import BaselineWarning, ConvergenceWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (ConvergenceWarning, BaselineWarning)):
            typer.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)
    warnings.showwarning = show


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
    _check_device(device)
    from dlnotes.run import Run

    metrics = Run.load(run, device=device).evaluate(split)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    for k, v in metrics.items():
        if isinstance(v, (int, float)):
            typer.echo(f"{k:>12}  {v:.6f}")
    if "baseline" in metrics:
        base = metrics["baseline"]
        typer.echo(f"baseline ({base['name']}): " + "  ".join(f"{k}={v:.6f}" for k, v in base.items() if k != "name"))
    if "confusion_matrix" in metrics:
        typer.echo("confusion matrix (rows: true class, columns: predicted):")
        for row in metrics["confusion_matrix"]:
            typer.echo("  " + " ".join(f"{v:5d}" for v in row))


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
    temperature: float = typer.Option(0.8, "--temperature", min=0.0,
                                      help="Text: sampling temperature; 0 picks the likeliest character."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Text: the sampling seed [default: the run's seed]."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [default: cpu]."),
):
    """Apply a trained model to new inputs; writes CSV input,prediction[,probability].

    A language model's continuation is printed as plain text (a CSV with --output).

    Example: dlnotes predict --run runs/lenet_digits-20260101-120000 --input digit.png
    Example: dlnotes predict --run runs/gru_text-20260101-120000 --input "Shall I" --steps 300 --seed 1
    """
    _check_device(device)
    if not (temperature == 0 or MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise UserError(f"--temperature {temperature:g}: must be 0 (always the likeliest character) or in "
                        f"[{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]; tinier values underflow to NaN probabilities")
    if output is not None:
        check_output(output, "--output")
    from dlnotes.engine.predict import to_csv
    from dlnotes.run import Run

    loaded = Run.load(run, device=device)
    rows = loaded.predict(input, top_k=top_k, steps=steps, temperature=temperature, seed=seed)
    if output is None and loaded.task.plain_text:
        sys.stdout.write("".join(r["prediction"] for r in rows) + "\n")
        return
    text = to_csv(rows)
    if output is None:
        sys.stdout.write(text)
    else:
        from dlnotes.engine.checkpoint import atomic_write

        try:
            atomic_write(output, text)
        except OSError as e:
            raise UserError(f"--output '{output}': cannot write it ({e.strerror or type(e).__name__}); "
                            "nothing was written") from None
        typer.echo(f"wrote {len(rows)} rows to {output}", err=True)
    if steps:  # forecasting: history and forecast beside the CSV (beside the input when writing to stdout)
        beside = output if output is not None else Path(input)
        figure = loaded.predict_figure(input, beside.with_name(beside.stem + "_forecast.png"), steps)
        if figure is not None:
            typer.echo(f"wrote the figure of history and forecast to {figure}", err=True)


MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3


def _check_device(device: Optional[str]) -> None:
    if device is not None:
        from dlnotes.config import check_device

        check_device(device)


def check_output(path: Path, flag: str) -> None:
    """An output file the user named: refused at once (exit 2) when it is a folder or cannot be created."""
    if path.is_dir():
        raise UserError(f"{flag} '{path}' is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise UserError(f"{flag} '{path}' exists and is not a regular file")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"{flag} '{path}': folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{flag} '{path}': no permission to write there")


def _describe(registry, name: Optional[str], provided=()) -> None:
    if name is None:
        width = max(len(n) for n in registry.names())
        for n in registry.names():
            typer.echo(f"{n:<{width}}  {registry.entry(n).doc}")
        return
    entry = registry.entry(name)
    typer.echo(f"{entry.name}: {entry.doc}")
    import inspect

    more = (inspect.getdoc(registry.get(name)) or "").split("\n", 1)[1:]  # the rest of the docstring
    more = "".join(more).split("\nArgs:\n")[0]  # the Args section is shown under each parameter below
    for line in more.strip("\n").splitlines():
        typer.echo(f"  {line}".rstrip())
    from dlnotes.registry import REQUIRED

    helps = _arg_help(registry.get(name).__doc__)
    for p in entry.params.values():
        default = "(required)" if p.default is REQUIRED else repr(p.default)
        note = f"  [{provided[p.name]}]" if p.name in provided else ""
        choices = f"  {p.allowed()}" if p.constraints or p.choices else ""  # "one of: ...", "in [0, 1)"
        typer.echo(f"  {p.name} = {default}{choices}{note}")
        if p.name in helps:
            typer.echo(f"      {helps[p.name]}")


def _arg_help(doc: str | None) -> dict[str, str]:
    """``{name: description}`` from a docstring's ``Args:`` section (Google style)."""
    import inspect

    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    if "Args:" not in [ln.strip() for ln in lines]:
        return out
    key = None
    for line in lines[[ln.strip() for ln in lines].index("Args:") + 1:]:
        if not line.strip():
            break
        head, sep, text = line.strip().partition(": ")
        if sep and head.isidentifier() and len(line) - len(line.lstrip()) <= 4:
            key, out[head] = head, text.strip()
        elif key is not None:
            out[key] += " " + line.strip()
    return out


@app.command()
@guarded
def models(name: Optional[str] = typer.Argument(None, help="A model to describe.")):
    """List the registered models, or one model's parameters and defaults.

    Example: dlnotes models lenet
    """
    from dlnotes.config import DATA_PROVIDED, TRAIN_PROVIDED
    from dlnotes.registry import MODELS

    _describe(MODELS, name, {**{k: "from the data unless set" for k in DATA_PROVIDED},
                             **{k: f"set by train.{k}" for k in TRAIN_PROVIDED}})


@app.command()
@guarded
def datasets(name: Optional[str] = typer.Argument(None, help="A dataset to describe.")):
    """List the registered datasets, or one dataset's parameters and defaults.

    Example: dlnotes datasets csv
    """
    from dlnotes.registry import DATASETS

    _describe(DATASETS, name)


@app.command("config")
@guarded
def config_(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config file."),
    overrides: Optional[List[str]] = OVERRIDES,
):
    """Print the resolved, validated config (defaults filled in).

    Example: dlnotes config --config configs/lenet_digits.yaml train.epochs=3
    """
    from dlnotes.config import dump, load_config, resolved

    typer.echo(dump(resolved(load_config(config, list(overrides or [])))), nl=False)


@app.command()
@guarded
def summary(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
    overrides: Optional[List[str]] = OVERRIDES,
):
    """Layer table of the configured model: output shapes (conv arithmetic) and parameters.

    Example: dlnotes summary --config configs/alexnet_imagenet.yaml --json
    """
    from dlnotes.config import load_config
    from dlnotes.summary import config_summary

    table = config_summary(load_config(config, list(overrides or [])))
    if as_json:
        typer.echo(json.dumps(table))
        return
    typer.echo(f"{'layer':<24} {'type':<20} {'output shape':<20} {'params':>12}")
    for row in table["layers"]:
        shape = "x".join(map(str, row["output_shape"])) if row["output_shape"] else "-"
        typer.echo(f"{row['name']:<24} {row['type']:<20} {shape:<20} {row['params']:>12,}")
    typer.echo(f"total parameters: {table['total_params']:,}")
    if "recipe" in table:
        typer.echo(f"recipe: {table['recipe']}")


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
        check_output(output, "--output")
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
):
    """Export a run's model to ONNX, a torch.export program or TorchScript, with a dynamic batch size.

    The file carries the run's preprocessing (normalisation, classes) as 'dlnotes' metadata.

    Example: dlnotes export --run runs/lenet_digits-20260101-120000 --format onnx --output lenet.onnx
    """
    check_output(output, "--output")
    from dlnotes.engine.export import export as export_model
    from dlnotes.run import Run

    loaded = Run.load(run)
    typer.echo(str(export_model(loaded.model, loaded.meta["model"]["name"], loaded.spec, fmt, output)))


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
    typer.echo(json.dumps(rows_json(rows, keys)) if as_json else format_table(rows, keys))


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


def _usage_errors():
    try:
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # typer before it carried its own click
        from click.exceptions import ClickException, NoArgsIsHelpError
    return ClickException, NoArgsIsHelpError


def main() -> None:
    """The console script: usage errors of the command line become one ``error:`` line and exit 2."""
    ClickException, NoArgsIsHelpError = _usage_errors()
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as e:
        typer.echo(e.format_message(), err=True)
        code = e.exit_code
    except ClickException as e:
        hint = f" (see: {e.ctx.command_path} --help)" if getattr(e, "ctx", None) is not None else ""
        typer.echo(f"error: {' '.join(e.format_message().split())}{hint}", err=True)
        code = e.exit_code
    except BrokenPipeError:
        code = SIGPIPE_EXIT
    except typer.Abort:
        typer.echo("aborted", err=True)
        code = 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            _quiet_broken_pipe()
        except typer.Exit:
            code = SIGPIPE_EXIT
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
