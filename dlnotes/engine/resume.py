"""``--resume``: what a run continues from, and every rule about continuing it, in one place.

A resume continues the same experiment: the run's own config (overrides may change only what does
not change the experiment: ``RESUMABLE``), the same model on the same data (meta.json's identity),
from the newest committed checkpoint (weights, optimizer, schedule, RNG states and data order). Every
check here runs before anything in the run is written, so a refused resume changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dlnotes.errors import UserError

# Overrides that do not change the experiment, so --resume may take them (dotted prefixes).
RESUMABLE = ("train.epochs", "train.optimizer.lr", "train.early_stopping", "device", "train.tensorboard",
             "train.threads", "data.workers")


def early_stop_due(epoch: int, best_epoch: int, patience: int) -> bool:
    """Early stopping's rule: ``patience`` epochs (> 0) since the best validation loss."""
    return patience > 0 and epoch - best_epoch >= patience


class Resume:
    """A run to continue: its recorded config, meta.json and last checkpoint's training state."""

    def __init__(self, rd, recorded: dict[str, Any], meta: dict[str, Any], state: dict[str, Any]):
        self.rd, self.recorded, self.meta, self.state = rd, recorded, meta, state

    @classmethod
    def read(cls, rd) -> "Resume | None":
        """What ``rd`` continues from; None for a run that never reached a checkpoint (it starts again)."""
        from dlnotes.config import load_config, resolved

        if rd.newest() is None:
            return None
        meta = rd.meta()
        recorded = meta.get("config") or resolved(load_config(rd.config_path))  # as trained, not as edited since
        return cls(rd, recorded, meta, rd.read_state())

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    def config(self, overrides: list[str] | None):
        """The run's config with ``overrides``; refuses one that changes the experiment."""
        from dlnotes.config import load_config, resolved

        check_config_unchanged(self.meta, load_config(self.rd.config_path), self.rd.path)
        cfg = load_config(self.rd.config_path, overrides)
        check_resume_overrides(self.recorded, resolved(cfg), self.rd.path)
        return cfg

    def check_same_run(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Refuses a resume whose model or data identity changed; returns the meta to record (the
        new one, keeping when the run was created)."""
        for section, key in (("model", "name"), ("model", "args"), ("dataset", "name"), ("dataset", "args"),
                             ("dataset", "input_shape"), ("dataset", "classes")):
            was, now = self.meta[section].get(key), json.loads(json.dumps(meta[section].get(key)))
            if key == "args":
                was, now = _identity(section, self.meta), _identity(section, meta)
            if was != now:
                raise UserError(f"--resume {self.rd.path}: {section}.{key} was {was!r} and is now {now!r}; a run "
                                "continues only with the same model and data; start a new run instead")
        check_same_data(self.meta, meta.get("data"), f"--resume {self.rd.path}")
        return {**self.meta, **meta, "created": self.meta.get("created", meta.get("created"))}

    def finished(self, cfg) -> bool:
        """Whether training has nothing left to do under ``cfg`` (the test and figures may be missing)."""
        if self.meta.get("solver", "gd") != "gd":  # solved in closed form: done in one step
            return True
        es = cfg.train.early_stopping
        best_epoch = int(self.state.get("best", [0, 0])[1])
        return self.epoch >= cfg.train.epochs or (bool(self.state.get("history")) and
                                                   early_stop_due(self.epoch, best_epoch, es.patience))

    def check_more_to_do(self, cfg) -> None:
        """Refuses to resume a complete run (trained, tested and drawn), saying what would continue it."""
        if not (self.finished(cfg) and self.rd.read_metrics()):
            return
        where = f"--resume {self.rd.path}"
        if self.meta.get("solver", "gd") != "gd":
            raise UserError(f"{where}: the {self.meta['solver']} run is complete; nothing to resume")
        if self.epoch < cfg.train.epochs:
            raise UserError(f"{where}: the run stopped early at epoch {self.epoch}; raise "
                            "train.early_stopping.patience (or set it to 0) to continue")
        raise UserError(f"{where}: the run already has {self.epoch} epochs; "
                        f"raise train.epochs (e.g. train.epochs={self.epoch + 5}) to continue")


def _identity(section: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A model's or dataset's arguments that make the experiment: with the constructor's defaults, without
    the data keys a resume may change (``data.workers`` says how the data is read, not what it is)."""
    args = _with_defaults(section, meta)
    return {k: v for k, v in args.items() if section != "dataset" or f"data.{k}" not in RESUMABLE}


def check_same_data(meta: dict[str, Any], now: dict[str, Any] | None, where: str) -> None:
    """Refuses data that changed under a run: another size or other rows in a split than it recorded."""
    from dlnotes.data.prepare import same_rows

    was = meta.get("data")
    if not was or not now:  # a run from before the data was recorded
        return
    for split in ("train", "val", "test"):
        a, b = was["sizes"].get(split), now["sizes"].get(split)
        if a != b:
            raise UserError(f"{where}: the {split} split had {a} samples when the run was trained and has {b} now; "
                            "the data changed under the run (start a new run for new data)")
        if a is not None and not same_rows(was["rows"][split], now["rows"][split]):
            raise UserError(f"{where}: the rows of the {split} split differ from those the run was trained on "
                            "(reordered, edited or replaced data); start a new run for new data")


def check_config_unchanged(meta: dict[str, Any], cfg, path: Path) -> None:
    """Refuses a run whose config.yaml was edited, since training, in a key that changes the experiment."""
    from dlnotes.config import resolved

    if meta.get("config"):
        check_resume_overrides(meta["config"], resolved(cfg), path, what=f"'{path / 'config.yaml'}' was edited:")


def _with_defaults(section: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A model's or dataset's recorded arguments with the constructor's defaults filled in."""
    from dlnotes.registry import DATASETS, MODELS, REQUIRED

    registry, name = (MODELS if section == "model" else DATASETS), meta[section]["name"]
    params = registry.params(name) if name in registry else {}
    defaults = {k: p.default for k, p in params.items() if p.default is not REQUIRED}
    return json.loads(json.dumps({**defaults, **meta[section]["args"]}))


def check_resume_overrides(before: dict[str, Any], after: dict[str, Any], path: Path, what: str = "") -> None:
    """Refuses a resume whose overrides (or edits) change the experiment (anything but RESUMABLE)."""
    flat_before, flat_after = _flat(before), _flat(after)
    for key in sorted(set(flat_before) | set(flat_after)):
        if flat_before.get(key, "<unset>") != flat_after.get(key, "<unset>") \
                and not any(key == r or key.startswith(r + ".") for r in RESUMABLE):
            if what:
                raise UserError(f"{what} '{key}' was {flat_before.get(key, '<unset>')!r} when the run was trained "
                                f"and is {flat_after.get(key, '<unset>')!r} now; the run's data split and model "
                                "depend on it (undo the edit, or train a new run with it)")
            raise UserError(f"--resume {path}: '{key}' changes the experiment and cannot change on resume "
                            f"(allowed: {', '.join(RESUMABLE)}, progress); start a new run instead: "
                            f"dlnotes train --config {path / 'config.yaml'} --out NEW_DIR {key}=...")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
