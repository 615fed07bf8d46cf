"""``dlnotes models``, ``datasets``, ``config`` and ``summary``: what the registries and a config hold."""

from __future__ import annotations

from dlnotes.atomic import dumps
from pathlib import Path
from typing import List, Optional

import typer

from dlnotes.cli.app import OVERRIDES, app, guarded


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
        typer.echo(dumps(table))
        return
    typer.echo(f"{'layer':<24} {'type':<20} {'output shape':<20} {'params':>12}")
    for row in table["layers"]:
        shape = "x".join(map(str, row["output_shape"])) if row["output_shape"] else "-"
        typer.echo(f"{row['name']:<24} {row['type']:<20} {shape:<20} {row['params']:>12,}")
    typer.echo(f"total parameters: {table['total_params']:,}")
    if "recipe" in table:
        typer.echo(f"recipe: {table['recipe']}")


