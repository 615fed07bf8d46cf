"""``dlnotes runs``: one row per run directory under a folder, read from meta.json and metrics.json."""

from __future__ import annotations

from pathlib import Path

from dlnotes.errors import UserError

METRICS = ("accuracy", "f1", "r2", "mse", "mae", "perplexity")


def collect_runs(directory: Path, sort: str | None = None) -> list[dict]:
    if not directory.is_dir():
        raise UserError(f"runs: folder '{directory}' not found")
    from dlnotes.engine.rundir import RunDir

    rows = []
    for path in sorted(p for p in directory.iterdir() if p.is_dir()):
        rd = RunDir(path)
        if rd.status() not in ("trained", "untrained"):
            continue
        try:
            meta, metrics, epochs = rd.meta(), rd.read_metrics(), rd.epochs_completed()
        except UserError:
            continue  # a damaged run: leave it out of the table
        rows.append({"run": path.name, "model": meta["model"]["name"], "data": meta["dataset"]["name"],
                     "epochs": epochs, "seconds": metrics.get("train_seconds"),
                     **{k: metrics[k] for k in METRICS if k in metrics}})
    if sort:
        if not any(sort in r for r in rows) and rows:
            raise UserError(f"--sort '{sort}': no run has that metric; allowed: {', '.join(METRICS)}")
        lower_better = sort in ("mse", "mae", "perplexity", "seconds")
        rows.sort(key=lambda r: (r.get(sort) is None, r.get(sort) if lower_better else -(r.get(sort) or 0)))
    return rows


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "no runs found"
    cols = ["run", "model", "data", "epochs", "seconds"] + [m for m in METRICS if any(m in r for r in rows)]
    cell = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(cell(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)
