"""``dlnotes runs`` and ``dlnotes compare``: experiments side by side, told apart by what differs.

Each run's config.yaml is flattened to dotted keys (``model.activation``, ``train.optimizer.lr``);
the table shows only the keys whose values differ between the listed runs, as a sweep table
does, beside the run's main test metric (its task's ``metric``) and that metric's trivial
baseline, the epochs trained and the training time. A run whose files cannot be read is a row
marked damaged, never an abort and never left out. ``compare`` draws the runs' learning curves on
one figure, each labelled by the same differing keys.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from dlnotes.engine.rundir import RunDir
from dlnotes.errors import UserError, path_note

RUN_FILES = (RunDir.META, RunDir.CONFIG)  # a folder holding either is a run (perhaps a damaged one)


def run_dirs(paths: list[Path]) -> list[Path]:
    """The runs named by ``paths``: a run directory stands for itself, any other folder for the runs in it."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise UserError(f"runs: '{path}' is not a folder" if path.exists() else f"runs: '{path}' not found{path_note(path)}")
        if _is_run(path):
            found.append(path)
        else:
            found += sorted(p for p in path.iterdir() if p.is_dir() and _is_run(p))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return [next(p for p in found if p.resolve() == u) for u in unique]


def _is_run(path: Path) -> bool:
    return any((path / name).is_file() for name in RUN_FILES)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"activation": "relu"}}`` -> ``{"model.activation": "relu"}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_run(path: Path) -> dict[str, Any]:
    """One run's row: identity, flattened config, main metric and baseline; ``damaged`` says what failed."""
    from dlnotes.tasks import get_task
    from dlnotes.yamlfile import read_yaml

    rd = RunDir(path)
    row: dict[str, Any] = {"run": path.name, "path": str(path), "damaged": None}
    try:
        meta = rd.meta()
        config = read_yaml(rd.config_path)  # the config loader's limits: a YAML bomb is a damaged run
        metrics, epochs = rd.read_metrics(), rd.epochs_completed()
        task = get_task(meta["dataset"]["task"])
    except (OSError, ValueError, KeyError, TypeError, UserError) as e:
        row["damaged"] = _reason(e)
        return row
    base = metrics.get("baseline") or {}
    row.update(task=task.name, model=meta["model"].get("name"), data=meta["dataset"].get("name"),
               config=flatten(config),
               epochs=epochs, seconds=metrics.get("train_seconds"), metric=task.metric,
               higher_is_better=task.higher_is_better, value=metrics.get(task.metric),
               baseline={"name": base["name"], "value": base[task.metric]} if task.metric in base else None)
    return row


def _reason(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text if isinstance(e, (UserError, OSError)) else f"{type(e).__name__}: {text}"


def differing_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The config keys whose values are not the same in every readable run (a key one run lacks differs)."""
    configs = [r["config"] for r in rows if not r["damaged"]]
    keys = list(dict.fromkeys(k for c in configs for k in c))
    return [k for k in keys if len({json.dumps(c.get(k, "<unset>"), sort_keys=True) for c in configs}) > 1]


def collect_runs(paths: list[Path], sort: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of ``paths``' runs and the config keys that tell them apart, sorted by ``sort`` if given."""
    rows = [read_run(p) for p in run_dirs(paths)]
    keys = differing_keys(rows)
    if sort:
        rows = sort_rows(rows, sort, keys)
    return rows, keys


SORTABLE = ("run", "model", "data", "epochs", "seconds", "time", "metric", "baseline")


def sort_rows(rows: list[dict[str, Any]], key: str, config_keys: list[str]) -> list[dict[str, Any]]:
    """Best first for a metric (its task's direction), ascending otherwise; damaged runs and gaps last."""
    key = "seconds" if key == "time" else key
    metrics = {r["metric"] for r in rows if not r["damaged"]}
    all_keys = {k for r in rows if not r["damaged"] for k in r["config"]}
    if key not in SORTABLE and key not in metrics and key not in all_keys:
        allowed = ", ".join([*SORTABLE, *sorted(metrics), *config_keys])
        raise UserError(f"--sort '{key}': not a column of these runs; allowed: {allowed}")

    def value(r):
        if r["damaged"]:
            return None
        if key in metrics or key == "metric":
            return r["value"] if key == "metric" or r["metric"] == key else None
        if key == "baseline":
            return r["baseline"]["value"] if r["baseline"] else None
        return r[key] if key in SORTABLE else r["config"].get(key)

    def order(r):
        v = value(r)
        if v is None:
            return (1, 0, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            better_high = (key in metrics or key == "metric") and r["higher_is_better"]
            return (0, -v if better_high else v, "")
        return (0, 0, str(v))
    return sorted(rows, key=order)


def readable_seconds(seconds: float | None) -> str:
    """61.521 -> ``61.5 s``; 123 -> ``2 min 3 s``; 7384 -> ``2 h 3 min``."""
    if seconds is None:
        return "-"
    if seconds < 100:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.1f} s"
    s = round(seconds)
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def format_table(rows: list[dict[str, Any]], keys: list[str] | None = None, width: int | None = None) -> str:
    """The runs as aligned text tables no wider than ``width`` (default: the terminal's, when stdout is one),
    one per group of runs with the same task, model and dataset, each showing the config keys that differ
    *within* it.

    One group is one table with model and data columns (as before groups existed); several get a heading
    each. A table too wide shortens its key names to their last part, then long values, then leaves out
    the key columns that do not fit and names them below (``--json`` has them all). ``keys`` (the keys
    differing over all runs) is accepted for callers of the one-table layout and no longer needed."""
    if not rows:
        return "no runs found"
    width = width or terminal_width() or 10**9  # 0: not a terminal, no limit
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if not r["damaged"]:
            groups.setdefault((r["task"], r["model"], r["data"]), []).append(r)
    damaged = [r for r in rows if r["damaged"]]
    if len(groups) <= 1:
        lines = _group_table(next(iter(groups.values()), []), width, identity=True)
    else:
        lines = []
        for (task, model, data), members in groups.items():
            lines += ["", f"{task}: {model} on {data} ({len(members)} run{'s' if len(members) > 1 else ''})"]
            lines += _group_table(members, width, identity=False)
        lines = lines[1:] + ([""] if damaged else [])
    run_width = max(len(r["run"]) for r in rows)
    lines += [f"{r['run'].ljust(run_width)}  damaged: {r['damaged']}" for r in damaged]  # why, in full
    return "\n".join(lines)


def terminal_width() -> int:
    """The terminal's width when stdout is one (COLUMNS, else the terminal's own); a pipe or a file gets
    the tables unlimited (0 = no limit), to be searched or read by a program."""
    if not sys.stdout.isatty():
        return 0
    return shutil.get_terminal_size((120, 24)).columns


def _group_table(members: list[dict[str, Any]], width: int, identity: bool) -> list[str]:
    """One group's table: run[, model, data], the keys that differ within the group, epochs, time, metric."""
    keys = [k for k in differing_keys(members) if k != "name"]
    metrics = sorted({r["metric"] for r in members})
    metric_col = metrics[0] if len(metrics) == 1 else "metric"
    left = ["run"] + (["model", "data"] if identity else [])
    right = ["epochs", "time", metric_col, "baseline"]
    for names, longest in ((keys, 0), (_short_keys(keys), 0), (_short_keys(keys), 16)):
        lines = _render(members, left, keys, names, right, metric_col, longest)
        if max(map(len, lines)) <= width:
            return lines
    shown = list(keys)
    while shown:  # leave out the key columns that do not fit, right to left
        shown.pop()
        lines = _render(members, left, shown, _short_keys(keys)[:len(shown)], right, metric_col, 16)
        if max(map(len, lines)) <= width:
            break
    return lines + [_also(keys[len(shown):], width)]


def _render(members, left, keys, names, right, metric_col, longest) -> list[str]:
    """Aligned lines: numbers right-aligned, text left-aligned; values over ``longest`` cut in the middle."""
    header = left + list(names) + right
    table = [header]
    for r in members:
        value = _cell(r["value"]) if metric_col != "metric" else f"{r['metric']}={_cell(r['value'])}"
        base = f"{_cell(r['baseline']['value'])} ({r['baseline']['name']})" if r["baseline"] else "-"
        ident = [r["run"]] + ([_cell(r["model"]), _cell(r["data"])] if len(left) > 1 else [])
        table.append(ident + [_middle(_cell(r["config"].get(k)), longest) for k in keys]
                     + [_cell(r["epochs"]), readable_seconds(r["seconds"]), value, base])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(line, widths)).rstrip()
            for line in table]


def _also(hidden: list[str], width: int) -> str:
    """``  (also differ: a, b and 3 more keys; all in dlnotes runs --json)``, naming as many as fit."""
    for n in range(len(hidden), 0, -1):
        more = f" and {len(hidden) - n} more key{'s' if len(hidden) - n > 1 else ''}" if n < len(hidden) else ""
        line = f"  (also differ: {', '.join(hidden[:n])}{more}; all in dlnotes runs --json)"
        if len(line) <= width:
            return line
    return _fit(f"  ({len(hidden)} more keys differ; all in dlnotes runs --json)", width)


def _short_keys(keys: list[str]) -> list[str]:
    """Each dotted key by its last part (``train.optimizer.lr`` -> ``lr``), or its last two parts when
    the last one is not unique among ``keys`` or says little alone (``optimizer.name``)."""
    last = [k.split(".")[-1] for k in keys]
    return [t if last.count(t) == 1 and t != "name" else ".".join(k.split(".")[-2:]) for k, t in zip(keys, last)]


def _middle(text: str, longest: int) -> str:
    """``text`` cut in the middle to ``longest`` characters (0: not cut): ``examples/...guins.csv``."""
    if not longest or len(text) <= longest:
        return text
    head = (longest - 3) // 2
    return text[:head] + "..." + text[len(text) - (longest - 3 - head):]


def _fit(line: str, width: int) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def _numeric(cell: str) -> bool:
    try:
        float(cell.split(" ")[0])
        return True
    except ValueError:
        return False


def label(row: dict[str, Any], keys: list[str]) -> str:
    """How a run is named on a shared figure: what differs (``model.activation=relu``), else its folder."""
    shown = [f"{k}={_cell(row['config'].get(k))}" for k in keys if k != "name"]
    return ", ".join(shown) or row["run"]


def compare(paths: list[Path], output: Path) -> Path:
    """The learning curves of several runs on one figure, labelled by the config keys that differ."""
    from dlnotes import plots

    from dlnotes.outputs import check_output

    rows, keys = collect_runs(paths)
    check_output(output, "--output", runs=[r["path"] for r in rows])
    ok = [r for r in rows if not r["damaged"]]
    for r in rows:
        if r["damaged"]:
            raise UserError(f"compare: run '{r['path']}' is damaged: {r['damaged']}")
    if len(ok) < 2:
        raise UserError(f"compare needs at least two runs; found {len(ok)} in {', '.join(map(str, paths))}")
    metrics = {r["metric"] for r in ok}
    metric = metrics.pop() if len(metrics) == 1 else None
    curves = []
    for r in ok:
        history = RunDir(r["path"]).read_history()
        if not history:
            raise UserError(f"compare: run '{r['path']}' has no history.csv (no epoch finished)")
        curves.append((label(r, keys), history))
    return plots.compare_curves(curves, metric, Path(output))


def as_json(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """``--json``: one object per run; ``differs`` holds the config keys that tell the runs apart."""
    out = []
    for r in rows:
        if r["damaged"]:
            out.append({"run": r["run"], "path": r["path"], "damaged": r["damaged"]})
            continue
        out.append({"run": r["run"], "path": r["path"], "damaged": None, "model": r["model"], "data": r["data"],
                    "differs": {k: r["config"].get(k) for k in keys}, "epochs": r["epochs"],
                    "seconds": r["seconds"], "metric": r["metric"], r["metric"]: r["value"],
                    "baseline": r["baseline"]})
    return out
