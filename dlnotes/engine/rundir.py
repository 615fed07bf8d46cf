"""The run directory: what a training run leaves behind and how it is read back.

    RUN/config.yaml  RUN/model.safetensors  RUN/meta.json  RUN/history.csv  RUN/metrics.json
    RUN/checkpoint/state.pt  RUN/plots/*.png
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from dlnotes.engine import checkpoint as ckpt
from dlnotes.errors import UserError


class RunDir:
    CONFIG = "config.yaml"
    WEIGHTS = "model.safetensors"
    META = "meta.json"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    STATE = "checkpoint/state.pt"
    SURFACE = "checkpoint/surface.pt"  # the grid solver's loss surface, for its figure
    PLOTS = "plots"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- reading --------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not run.path.exists():
            raise UserError(f"run directory '{run.path}' not found")
        if not run.path.is_dir():
            raise UserError(f"'{run.path}' is not a run directory")
        for name in (cls.CONFIG, cls.META):
            if not (run / name).is_file():
                raise UserError(f"'{run.path}' is not a dlnotes run: {name} is missing")
        return run

    def meta(self) -> dict[str, Any]:
        meta = ckpt.read_json(self / self.META)
        for key in ("model", "dataset", "preprocess"):
            if key not in meta:
                raise UserError(f"'{self / self.META}' lacks '{key}'; it was not written by dlnotes")
        return meta

    def expected_sha(self, name: str) -> str | None:
        return self.meta().get("files", {}).get(name)

    # -- writing --------------------------------------------------------------------------------
    def write_meta(self, meta: dict[str, Any]) -> None:
        ckpt.write_json(self / self.META, meta)

    def save_checkpoint(self, model, state: dict[str, Any], meta: dict[str, Any]) -> None:
        """Weights and training state, then meta.json with both files' sha256 (written last)."""
        ckpt.save_weights(model, self / self.WEIGHTS, {"model": meta["model"]["name"]})
        ckpt.save_state(state, self / self.STATE)
        meta.setdefault("files", {})
        for name in (self.WEIGHTS, self.STATE):
            meta["files"][name] = ckpt.sha256(self / name)
        meta["epochs_completed"] = state["epoch"]
        self.write_meta(meta)

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        fields = list(rows[0])
        for row in rows[1:]:
            fields += [k for k in row if k not in fields]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in row.items()})
        ckpt.atomic_write(self / self.HISTORY, buf.getvalue())

    def read_history(self) -> list[dict[str, float]]:
        path = self / self.HISTORY
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as f:
            return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def _num(v: str) -> float | str:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v
