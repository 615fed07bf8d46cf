"""The YAML config: schema, loading, ``KEY=VALUE`` overrides and validation.

Everything a config can say is checked here, at load, before any data is read or model built: the
fixed sections by a pydantic schema, and the model, dataset, optimizer and scheduler keys against
the parameters of the registered constructors. Every problem becomes one ``UserError`` line that
names the file, the key and what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dlnotes.errors import UserError, did_you_mean
from dlnotes.yamlfile import MAX_CONFIG_BYTES, Refused, load_yaml, read_yaml
from dlnotes.registry import (
    DATASETS,
    LOSSES,
    MODELS,
    OPTIMIZERS,
    REQUIRED,
    SCHEDULERS,
    Registry,
)

# Model parameters the pipeline fills from the dataset unless the config sets them.
DATA_PROVIDED = ("in_channels", "image_size", "in_features", "input_size", "num_classes", "seq_len",
                 "horizon", "vocab_size", "out_features", "categories")
# Model parameters set by the train section, never by the model's own keys: train.gradient.
TRAIN_PROVIDED = ("gradient",)
# Settings that were renamed: the old key is refused with a pointer to the new one.
RENAMED = {"train.precision": "train.amp (none, bf16, fp16)"}


# torch.manual_seed takes up to 2**64 - 1, numpy's legacy seeding (np.random.seed) up to 2**32 - 1
MAX_SEED = 2**32 - 1
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d{1,3})?|mps)$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True, allow_inf_nan=False)


class _OpenSection(BaseModel):
    """A section whose other keys belong to a registered constructor (checked separately)."""

    model_config = ConfigDict(extra="allow", strict=True, validate_default=True, allow_inf_nan=False)


class OptimizerConfig(_OpenSection):
    name: str = "adam"
    lr: float = Field(1e-3, gt=0)


class SchedulerConfig(_OpenSection):
    name: str = "none"


class EarlyStoppingConfig(_Section):
    patience: int = Field(0, ge=0, le=1_000_000)  # 0 = off
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = False  # at the end, the weights of the best validation epoch (not the last)


class GridConfig(_Section):
    """The (w, b) grid of exhaustive search, for one-feature linear regression."""

    w_min: float = -10.0
    w_max: float = 10.0
    b_min: float = -10.0
    b_max: float = 10.0
    steps: int = Field(401, ge=2, le=1_000_000)  # points per axis
    max_memory_mb: float = Field(1024.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        for axis in ("w", "b"):
            low, high = getattr(self, f"{axis}_min"), getattr(self, f"{axis}_max")
            if not low < high:
                raise ValueError(f"{axis}_min ({low:g}) must be less than {axis}_max ({high:g})")
        return self


class TrainConfig(_Section):
    epochs: int = Field(10, ge=1, le=1_000_000)
    # gd: gradient descent (the training loop, engine/trainer.py); least_squares: the normal equations and
    # grid: exhaustive search (engine/solvers.py); lstsq is least_squares' old name, still accepted
    solver: Literal["gd", "least_squares", "lstsq", "grid"] = "gd"
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    loss: str = "auto"
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    gradient: Literal["autograd", "manual"] = "autograd"
    grid: GridConfig = Field(default_factory=GridConfig)
    grad_clip: float = Field(0.0, ge=0)  # max global gradient norm; 0 = off
    amp: Literal["none", "bf16", "fp16"] = "none"  # automatic mixed precision (autocast) on CUDA/CPU
    channels_last: bool = False
    compile: bool = False
    tensorboard: bool = False
    track_gradients: bool = False  # per-epoch gradient norm per layer, dead/saturated units (engine/tracking.py)
    threads: Any = "auto"  # intra-op threads: auto (dlnotes/engine/threads.py) or a whole number N

    @field_validator("threads")
    @classmethod
    def _threads(cls, v):
        if v == "auto" or (type(v) is int and 1 <= v <= 4096):
            return v
        raise ValueError(f"must be auto or a whole number of threads from 1 to 4096 (got {v!r})")


class DataConfig(_OpenSection):
    name: str
    batch_size: int = Field(64, ge=1, le=2**31 - 1)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    standardize: bool = True
    augment: bool = False  # images: random shifts and rotations while training


class ModelConfig(_OpenSection):
    name: str


class Config(_Section):
    name: str = "run"
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: str = Field("auto", pattern=DEVICE_PATTERN)
    data: DataConfig
    model: ModelConfig
    train: TrainConfig = Field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    def extras(self, section: str) -> dict[str, Any]:
        """The constructor keys of an open section: ``extras('model')`` -> ``{'activation': 'relu'}``."""
        obj = self
        for part in section.split("."):
            obj = getattr(obj, part)
        return dict(obj.model_extra or {})


# ------------------------------------------------------------------------------------------
# loading and overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'train.optimizer.lr=0.01'`` -> ``(['train', 'optimizer', 'lr'], 0.01)``; the value is a YAML scalar."""
    if "=" not in text:
        raise UserError(f"override '{_short(text)}' has no '='; write KEY=VALUE, e.g. train.epochs=3")
    key, _, raw = text.partition("=")
    parts = key.strip().split(".")
    if not key.strip() or any(not p or not p.replace("_", "").replace("-", "").isalnum() for p in parts):
        raise UserError(f"override '{_short(text)}': '{_short(key)}' is not a dotted key like train.epochs")
    if len(raw) > MAX_CONFIG_BYTES:
        raise UserError(f"override '{key}': the value is longer than {MAX_CONFIG_BYTES >> 20} MB")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except Refused as e:
        raise UserError(f"override '{key}={_short(raw)}': {e.problem}") from None
    except (yaml.YAMLError, RecursionError, ValueError):
        value = raw  # unparseable as YAML: take it as a plain string
    if isinstance(value, (dict, list)) and not raw.strip().startswith(("{", "[")):
        value = raw
    return parts, value


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Sets each dotted key; a new ``data.name`` or ``model.name`` comes first and starts that section
    from the new constructor's defaults (the old one's keys would not fit it)."""
    data = _deepcopy(data)
    first = [t for t in overrides if t.partition("=")[0].strip() in ("data.name", "model.name")]
    for text in first + [t for t in overrides if t not in first]:
        parts, value = parse_override(text)
        if text in first and isinstance(data.get(parts[0]), dict) and data[parts[0]].get("name") != value:
            keep = DataConfig.model_fields if parts[0] == "data" else ()
            data[parts[0]] = {k: v for k, v in data[parts[0]].items() if k in keep}
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"override '{text}': '{'.'.join(parts[: i + 1])}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def quick_config(data: str | Path, target: str | None, model: str | None, overrides: list[str]) -> Config:
    """The config of ``dlnotes train --data FILE.csv --target COL [--model NAME]``: a csv dataset (or
    image_folder for a folder, lenet by default) and settings that fit small tables (Adam at 0.01,
    100 epochs); whenever there is a validation split, early stopping that keeps the best validation
    epoch's weights (``train.early_stopping: {patience: 10, restore_best: true}``; a folder: restore_best
    only). The run's config.yaml then holds all of it, to edit and re-run with ``--config``."""
    data = Path(data)
    if data.is_dir():
        section: dict[str, Any] = {"name": "image_folder", "root": str(data)}
        if target is not None:
            raise UserError(f"--target: '{data}' is an image folder; its subfolders are the classes")
    else:
        if target is None:
            raise UserError(f"--target: name the column of '{data}' to predict (e.g. --target price)")
        section = {"name": "csv", "path": str(data), "target": target}
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", data.stem) or "data"
    model = model or ("lenet" if data.is_dir() else "mlp")
    d = {"name": f"{model}_{stem}", "data": section, "model": {"name": model},
         "train": {"epochs": 10 if data.is_dir() else 100, "optimizer": {"name": "adam", "lr": 0.01}}}
    d = _keep_best(apply_overrides(d, overrides), patience=0 if data.is_dir() else 10)
    return validate(d, source=f"--data {data}")


def _keep_best(d: dict[str, Any], patience: int) -> dict[str, Any]:
    """The quick start's early stopping (restore_best, and ``patience`` unless 0) where there is a validation
    split and the overrides did not say otherwise; a malformed section is left to ``validate`` to name."""
    val = d["data"].get("val_fraction", DataConfig.model_fields["val_fraction"].default) \
        if isinstance(d.get("data"), dict) else 0
    es = d.setdefault("train", {}).setdefault("early_stopping", {}) if isinstance(d.get("train", {}), dict) else None
    if isinstance(es, dict) and isinstance(val, (int, float)) and not isinstance(val, bool) and val > 0:
        es.setdefault("restore_best", True)
        if patience:
            es.setdefault("patience", patience)
    return d


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Reads, overrides and validates a config file; the run name defaults to the file's stem.

    When the file is valid on its own and an override breaks it, the error names that override.
    """
    data = read_yaml(path)
    data.setdefault("name", Path(path).stem)
    overrides = overrides or []
    try:
        return validate(apply_overrides(data, overrides), source=str(path))
    except UserError as e:
        if not overrides:
            raise
        culprit = _first_bad_override(data, overrides, str(path))
        if culprit is None:
            raise
        message = str(e).removeprefix(f"{path}: ").removeprefix(f"{culprit.partition('=')[0].strip()}: ")
        raise UserError(f"override '{_short(culprit)}': {message}") from None


def _first_bad_override(data: dict[str, Any], overrides: list[str], source: str) -> str | None:
    """The first override whose addition turns a valid config invalid (``None``: the file itself is at fault)."""
    for n in range(len(overrides) + 1):
        try:
            validate(apply_overrides(data, overrides[:n]), source=source)
        except UserError:
            return overrides[n - 1] if n else None
    return None


def check_device(spec: str, where: str = "--device") -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; anything else is exit 2 before torch is loaded."""
    if not isinstance(spec, str) or not re.fullmatch(DEVICE_PATTERN, spec):
        raise UserError(f"{where} '{_short(str(spec))}': must be auto, cpu, cuda, cuda:N or mps")
    return spec


def validate(data: dict[str, Any], source: str = "config") -> Config:
    """Checks ``data`` against the schema and the registries; returns the typed ``Config``."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a config is a mapping of keys")
    for key in data:
        if not isinstance(key, str):
            raise UserError(f"{source}: key {key!r} is not a string")
    for section in ("data", "model"):
        if section in data and isinstance(data[section], dict) and "name" not in data[section]:
            reg = DATASETS if section == "data" else MODELS
            raise UserError(f"{source}: {section}.name is missing; choose one of: {', '.join(reg.names())}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{source}: {_explain(e)}") from None
    _check_registered(cfg, source)
    return cfg


def _explain(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc)
    error_type = first["type"]
    if error_type == "extra_forbidden":
        if key in RENAMED:
            return f"{key} was renamed: use {RENAMED[key]}"
        section = ".".join(loc[:-1]) or "the top level"
        fields = _fields_at(loc[:-1])
        return f"unknown key '{loc[-1]}' in {section}{did_you_mean(loc[-1], fields)}"
    if error_type == "missing":
        return f"missing key '{key}'"
    got = first.get("input")
    msg = first["msg"].removeprefix("Value error, ")
    if error_type == "literal_error":
        msg = msg.replace("Input should be", "must be")
    elif error_type.endswith("_type"):
        expected = error_type.replace("_type", "").replace("model", "section (mapping)").replace("dict", "mapping")
        msg = f"must be {'a' if expected[0] not in 'aeiou' else 'an'} {expected}"
    elif error_type == "string_pattern_mismatch" and loc == ["device"]:
        msg = "must be auto, cpu, cuda or cuda:N"
    else:
        msg = msg.replace("Input should be", "must be")
    if error_type == "value_error":  # a check across keys: the message names them
        return f"{key}: {msg}"
    return f"{key}: {msg} (got {_short(repr(got), 80)})"


def _fields_at(loc: list[str]) -> list[str]:
    model: Any = Config
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _check_keys(where: str, registry: Registry, name: str, given: dict[str, Any], skip: tuple = ()) -> None:
    entry = registry.entry(name, where=f"{where}.name")
    allowed = {k: p for k, p in entry.params.items() if k not in skip}
    for key, value in given.items():
        if key not in allowed:
            hint = (did_you_mean(key, allowed) if allowed else "") or (
                f"; {name} takes: {', '.join(allowed)}" if allowed else f"; {name} takes no keys")
            raise UserError(f"unknown key '{key}' in {where} for {registry.kind} '{name}'{hint}")
        allowed[key].check(f"{where}.{key}", value)
    for key, p in allowed.items():
        if p.required and key not in given and key not in skip and key not in DATA_PROVIDED:
            raise UserError(f"{where}.{key} is required for {registry.kind} '{name}'")


def _check_registered(cfg: Config, source: str) -> None:
    try:
        _check_keys("data", DATASETS, cfg.data.name, cfg.extras("data"))
        _check_keys("model", MODELS, cfg.model.name, cfg.extras("model"), skip=TRAIN_PROVIDED)
        opt = cfg.train.optimizer
        _check_keys("train.optimizer", OPTIMIZERS, opt.name, cfg.extras("train.optimizer"), skip=("params", "lr"))
        _check_keys("train.scheduler", SCHEDULERS, cfg.train.scheduler.name, cfg.extras("train.scheduler"),
                    skip=("optimizer", "epochs", "steps"))
        if cfg.train.loss != "auto":
            LOSSES.entry(cfg.train.loss, where="train.loss")
        if cfg.train.solver != "gd" and cfg.model.name != "linear_regression":
            raise UserError(f"train.solver: '{cfg.train.solver}' solves linear_regression only; "
                            f"model '{cfg.model.name}' trains with 'gd'")
        g = cfg.train.grid
        if cfg.train.solver == "grid" and g.steps ** 2 * 8 / 2**20 > g.max_memory_mb:
            raise UserError(f"train.grid.steps: a {g.steps} x {g.steps} grid needs {g.steps ** 2 * 8 / 2**20:,.0f} MB "
                            f"for its loss surface, more than train.grid.max_memory_mb = {g.max_memory_mb:g}")
        if cfg.train.gradient == "manual" and "gradient" not in MODELS.params(cfg.model.name):
            with_rules = [n for n in MODELS.names() if "gradient" in MODELS.params(n)]
            raise UserError(f"train.gradient: 'manual' (the derived update formulas) exists for "
                            f"{' and '.join(with_rules)} only, not '{cfg.model.name}'; use 'autograd'")
    except UserError as e:
        raise UserError(f"{source}: {e}") from None


def resolved(cfg: Config) -> dict[str, Any]:
    """The config with every default filled in, as written to ``RUN/config.yaml``."""
    d = cfg.to_dict()
    for section, registry, name, skip in (
        (d["data"], DATASETS, cfg.data.name, ()),
        (d["model"], MODELS, cfg.model.name, DATA_PROVIDED + TRAIN_PROVIDED),
        (d["train"]["optimizer"], OPTIMIZERS, cfg.train.optimizer.name, ("params",)),
        (d["train"]["scheduler"], SCHEDULERS, cfg.train.scheduler.name, ("optimizer", "epochs", "steps")),
    ):
        for key, p in registry.params(name).items():
            if key not in section and key not in skip and p.default is not REQUIRED:
                section[key] = list(p.default) if isinstance(p.default, tuple) else p.default
    return d


def dump(d: dict[str, Any]) -> str:
    return yaml.safe_dump(d, sort_keys=False, default_flow_style=False)
