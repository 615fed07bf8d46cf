"""meta.json believed only after checking: types, ranges and consistency of what a run says it is.

meta.json is read back from a file a user can edit, and eval, predict, export and serve build the model
and prepare inputs from it. Beyond the schema's types (``manifest.RunMeta``), every fact is checked
against the others before anything is built: the model's arguments against the registered constructor's
parameters and bounds (no 16 TB ``image_size``), the task against the model's outputs, the input shape
against the model's arguments and the preprocessing, and the normalisation statistics against the shape
(finite numbers, one per channel or feature, positive spreads). A contradiction is ``MetaError``
naming the field, which ``read_meta`` turns into one line.
"""

from __future__ import annotations

import math
from typing import Any


class MetaError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check_meta(meta: dict[str, Any]) -> None:
    """Raises ``MetaError`` for the first fact of ``meta`` that contradicts the registry or another fact."""
    _model_args(meta["model"])
    _task(meta)
    _shape(meta)
    _statistics(meta)


def _model_args(model: dict[str, Any]) -> None:
    from dlnotes.errors import UserError, did_you_mean
    from dlnotes.registry import MODELS

    params = MODELS.params(model["name"])
    for key, value in model["args"].items():
        if key not in params:
            raise MetaError(f"model.args.{key}", f"'{key}' is not a parameter of model '{model['name']}'"
                            f"{did_you_mean(key, params)}")
        try:
            params[key].check(f"model.args.{key}", value)
        except UserError as e:
            raise MetaError(f"model.args.{key}", str(e).removeprefix(f"model.args.{key}: ")) from None
    for key, p in params.items():
        if p.required and key not in model["args"]:
            raise MetaError(f"model.args.{key}", "missing: the model cannot be built without it")


def _arg(meta: dict[str, Any], key: str) -> Any:
    """A model argument as the constructor sees it (the recorded value, else its default)."""
    from dlnotes.registry import MODELS, REQUIRED

    args = meta["model"]["args"]
    if key in args:
        return args[key]
    p = MODELS.params(meta["model"]["name"]).get(key)
    return None if p is None or p.default is REQUIRED else p.default


def _task(meta: dict[str, Any]) -> None:
    ds, task = meta["dataset"], meta["dataset"]["task"]
    n, classes = _arg(meta, "num_classes"), ds.get("classes") or []
    if task == "classification":
        if len(classes) < 2:
            raise MetaError("dataset.classes", f"{len(classes)} class names for a classifier; it needs at least two")
        if n is None:
            raise MetaError("dataset.task", f"model '{meta['model']['name']}' does not classify")
        if n != len(classes):
            raise MetaError("dataset.classes", f"{len(classes)} class names for a classifier with num_classes={n}")
    elif isinstance(n, int) and n > 0 and task != "language":
        raise MetaError("dataset.task", f"'{task}' but the model is a classifier (num_classes={n})")


def _shape(meta: dict[str, Any]) -> None:
    ds, pre = meta["dataset"], meta["preprocess"]
    shape, kind = ds["input_shape"], ds["kind"]
    if any(d < 1 for d in shape):
        raise MetaError("dataset.input_shape", f"{shape}: every size must be at least 1")
    if pre.get("kind") != kind:
        raise MetaError("preprocess.kind", f"{pre.get('kind')!r} but the dataset's kind is '{kind}'")
    expected = {"image": 3, "tabular": 1, "sequence": 2, "text": 1}[kind]
    if len(shape) != expected:
        raise MetaError("dataset.input_shape", f"{shape}: {kind} inputs have {expected} dimension(s)")
    if kind == "image":
        c, h, w = shape
        for key, value in (("in_channels", c), ("image_size", w)):
            if _arg(meta, key) is not None and _arg(meta, key) != value:
                raise MetaError(f"model.args.{key}", f"{_arg(meta, key)} but the input shape is {shape}")
        for key, value in (("image_size", w), ("channels", c)):
            if key not in pre or pre[key] != value:
                raise MetaError(f"preprocess.{key}", f"{pre.get(key)!r} but the input shape is {shape}")
    features = math.prod(shape) - len(_arg(meta, "categories") or [])  # embedded categories: one code each
    if _arg(meta, "in_features") is not None and _arg(meta, "in_features") != features:
        raise MetaError("model.args.in_features", f"{_arg(meta, 'in_features')} but the input shape {shape} "
                        f"gives {features}")
    if kind == "sequence" and _arg(meta, "input_size") not in (None, shape[1]):
        raise MetaError("model.args.input_size", f"{_arg(meta, 'input_size')} but the input shape is {shape}")
    if kind == "text":
        vocab = pre.get("vocab")
        if not isinstance(vocab, list) or not vocab or not all(isinstance(v, str) for v in vocab):
            raise MetaError("preprocess.vocab", "a text run needs its list of characters")
        if _arg(meta, "vocab_size") != len(vocab):
            raise MetaError("model.args.vocab_size", f"{_arg(meta, 'vocab_size')} but the vocabulary has {len(vocab)}")


def _numbers(field: str, value: Any, count: int | None, positive: bool) -> None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise MetaError(field, f"{value!r} is not a number or a list of numbers")
    if not all(math.isfinite(v) for v in values):
        raise MetaError(field, f"{value!r} holds NaN or infinity")
    if positive and not all(v > 0 for v in values):
        raise MetaError(field, f"{value!r}: a spread must be positive")
    if count is not None and len(values) not in (1, count):
        raise MetaError(field, f"{len(values)} values for {count} channels or features")


def _statistics(meta: dict[str, Any]) -> None:
    pre, shape, kind = meta["preprocess"], meta["dataset"]["input_shape"], meta["dataset"]["kind"]
    count = {"image": shape[0], "tabular": shape[0], "sequence": shape[-1]}.get(kind)
    standardised = (meta.get("config") or {}).get("data", {}).get("standardize")
    if standardised and kind != "text" and "tabular" not in pre and "x_mean" not in pre:
        raise MetaError("preprocess.x_mean", "missing: the run was trained on standardised inputs")
    for key in ("x_mean", "x_std"):
        if (key in pre) != ("x_mean" in pre and "x_std" in pre):
            raise MetaError(f"preprocess.{key}", "x_mean and x_std go together")
        if key in pre:
            _numbers(f"preprocess.{key}", pre[key], count, positive=key == "x_std")
    for key in ("y_mean", "y_std"):
        if key in pre:
            _numbers(f"preprocess.{key}", pre[key], None, positive=key == "y_std")
    if kind == "tabular" and "tabular" in pre and not isinstance(pre["tabular"], dict):
        raise MetaError("preprocess.tabular", "the table's preprocessing must be a mapping")
