"""Does the config fit the data? Checked once the data is collected, before the run holds anything of it.

The config is checked on its own at load (keys, types, ranges); what the data brings (its task, its
input kind, the number of classes, the image size) is known only after the collect step. This module
holds every rule between the two, so that a config that cannot work is exit 2 naming both sides, and
never a torch message in the middle of a run or a run that silently trains on nonsense:

    the loss     must fit the task (the task object says which losses fit it: ``Task.loss_problem``)
    the model    must read the input kind (a model reads a kind when its constructor takes one of the
                 parameters that kind fills, ``READS``) and produce the task's outputs (``Task.model_keys``)
    model keys the data sets (``image_size``, ``num_classes``, ``seq_len``...): a value given in the
                 config must be the data's; one the data does not set for this task is refused as not
                 applying (unless it is the constructor's default, which changes nothing)
    options      that would be silently ignored (``data.augment`` on a table, early stopping without a
                 validation split, a threshold with three classes...) are refused, saying why
    table types  ``data.columns.<target>`` cannot contradict the target's task; ``boolean`` needs two levels

A key left at ``auto`` (``train.loss``, ``data.task``) adapts to the data and is never refused. Rules
are plain functions returning the one-line problem or None; ``check_fit`` raises the first.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from dlnotes.config import DATA_PROVIDED
from dlnotes.errors import UserError
from dlnotes.registry import DATASETS, MODELS

# A model reads an input kind when its constructor takes one of these parameters (the ones the kind fills).
READS = {"image": ("image_size", "in_features"), "tabular": ("in_features",),
         "sequence": ("input_size", "in_features"), "text": ("vocab_size",)}
KIND_WORDS = {"image": "images", "tabular": "a table", "sequence": "sequences", "text": "text"}
# The data's key that sets a model key, where the names differ (model.in_channels <- data.channels).
DATA_KEY = {"in_channels": "channels"}


def check_fit(cfg, data) -> None:
    """Raises ``UserError`` (exit 2) with the first way ``cfg`` does not fit the collected ``data``
    (``dlnotes.data.prepare.Prepared``, with its task and kind)."""
    for rule in RULES:
        problem = rule(cfg, data)
        if problem:
            raise UserError(problem)


# -- what the data is, in words ----------------------------------------------------------------------

def data_words(data) -> str:
    """``the target 'species' has 3 classes (Adelie, Chinstrap, Gentoo)``: the task's own words for its data."""
    return data.task.describe(data.dataset)


def _models_for(keys: tuple[str, ...]) -> str:
    return ", ".join(n for n in MODELS.names() if any(k in MODELS.params(n) for k in keys))


def _either(words: list[str]) -> str:
    """``images, a table or sequences``."""
    return " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words) or "nothing"


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _changed(cfg, section: str, key: str) -> bool:
    """Whether ``section.key`` was given with a value other than its default (a default changes nothing)."""
    obj = cfg
    for part in section.split("."):
        obj = getattr(obj, part)
    field = type(obj).model_fields[key]
    return not _same(getattr(obj, key), field.get_default(call_default_factory=True))


# -- the rules -------------------------------------------------------------------------------------

def loss_fits_task(cfg, data) -> str | None:
    """``bce`` on three classes, ``mse`` on a classifier, ``cross_entropy`` on numbers or a forecast."""
    loss = cfg.train.loss
    if loss == "auto":
        return None
    reason = data.task.loss_problem(loss, data.dataset)
    return f"train.loss: '{loss}' {reason}, but {data_words(data)}; use {data.task.loss} " \
           f"(or auto, which picks it)" if reason else None


def model_reads_kind(cfg, data) -> str | None:
    """A convolutional network on a table, a recurrent one on images, an MLP on text..."""
    name, kind = cfg.model.name, data.kind.name
    params = MODELS.params(name)
    if any(k in params for k in READS[kind]):
        return None
    reads = [KIND_WORDS[k] for k, keys in READS.items() if any(p in params for p in keys)]
    return (f"model.name: '{name}' reads {_either(reads)}, but data '{cfg.data.name}' is "
            f"{KIND_WORDS[kind]}; models that read {KIND_WORDS[kind]}: {_models_for(READS[kind])}")


OUTPUT_WORDS = {"num_classes": "classes", "out_features": "numbers", "horizon": "forecasts",
                "vocab_size": "next characters"}


def model_gives_task(cfg, data) -> str | None:
    """``linear_regression`` on a 3-class target, ``logistic_regression`` on prices..."""
    name, task = cfg.model.name, data.task
    params = MODELS.params(name)
    if any(k in params for k in task.model_keys):
        return None
    gives = [OUTPUT_WORDS[k] for k in OUTPUT_WORDS if k in params]
    hint = "; or set data.task: classification" if task.name == "regression" and "task" in DATASETS.params(
        cfg.data.name) and "num_classes" in params else ""
    return (f"model.name: '{name}' predicts {_either(gives)}, but {data_words(data)}; "
            f"models for {task.name}: {_models_for(task.model_keys)}{hint}")


def model_keys_fit_data(cfg, data) -> str | None:
    """A model key the data sets (image_size, num_classes, seq_len...) given in the config must be the data's."""
    name, given = cfg.model.name, cfg.extras("model")
    params, from_data = MODELS.params(name), data.model_inputs()
    for key in DATA_PROVIDED:
        if key not in given or key not in params:
            continue
        if key not in from_data or (key == "num_classes" and from_data[key] == 0):
            if key in from_data and given[key] == 0:
                continue
            if key not in from_data and _same(given[key], params[key].default):
                continue  # the default changes nothing
            return (f"model.{key}: {given[key]!r} does not apply: {data_words(data)}, and {name} has no use for "
                    f"{key} there; leave it out")
        if not _same(given[key], from_data[key]):
            data_key = DATA_KEY.get(key, key)
            resize = f"set data.{data_key}: {given[key]} to change the data, or " \
                if data_key in DATASETS.params(cfg.data.name) and data_key != "num_classes" else ""
            return (f"model.{key}: {given[key]!r} does not match the data '{cfg.data.name}', which has {key} = "
                    f"{from_data[key]!r}; {resize}leave model.{key} out (the data sets it)")
    return None


def options_apply(cfg, data) -> str | None:
    """Settings for another input kind, which would be silently ignored for this data."""
    kind, params = data.kind, MODELS.params(cfg.model.name)
    what = f"data '{cfg.data.name}' is {KIND_WORDS[kind.name]}"
    if cfg.data.augment and not kind.image:
        return f"data.augment: random shifts and rotations are for images, and {what}; leave it out"
    if cfg.train.channels_last and not kind.image:
        return f"train.channels_last: a memory layout for images (N, C, H, W), and {what}; leave it out"
    if "embed_categories" in cfg.extras("model") and _changed_param(params, cfg.extras("model"), "embed_categories") \
            and kind.name != "tabular":
        return f"model.embed_categories: learned embeddings are for a table's categories, and {what}; leave it out"
    return None


def settings_apply(cfg, data) -> str | None:
    """Settings that would be silently ignored for this task or split."""
    given, params = cfg.extras("model"), MODELS.params(cfg.model.name)
    if "threshold" in given and "threshold" in params and _changed_param(params, given, "threshold") \
            and len(data.dataset.classes or []) != 2:
        return (f"model.threshold: {given['threshold']} applies to two classes (p(class 1) >= threshold), but "
                f"{data_words(data)}; leave it out")
    if _changed(cfg, "data", "test_fraction") and data.dataset.x_test is not None:
        return (f"data.test_fraction: {cfg.data.test_fraction:g} is not used: data '{cfg.data.name}' comes with "
                f"its own test part ({data.size('test')} samples); leave it out")
    es = cfg.train.early_stopping
    if es.min_delta > 0 and es.patience == 0:
        return "train.early_stopping.min_delta: early stopping is off (patience 0), so min_delta does nothing; " \
               "set train.early_stopping.patience too, or leave min_delta out"
    return None


def _changed_param(params, given: dict[str, Any], key: str) -> bool:
    return not _same(given[key], params[key].default)


def validation_exists(cfg, data) -> str | None:
    """Early stopping and the plateau schedule watch the validation loss: they need a validation split."""
    if data.val is not None:
        return None
    users = []
    if cfg.train.early_stopping.patience > 0:
        users.append(f"train.early_stopping.patience: {cfg.train.early_stopping.patience}")
    if cfg.train.scheduler.name == "plateau":
        users.append("train.scheduler: plateau")
    if not users:
        return None
    if cfg.data.val_fraction == 0:
        why = "data.val_fraction is 0; set it (e.g. 0.1)"
    else:
        why = (f"data.val_fraction {cfg.data.val_fraction:g} of {data.size('train')} training samples leaves no "
               f"validation sample; give more data or a larger val_fraction")
    verb = "watch the validation loss and need" if len(users) > 1 else "watches the validation loss and needs"
    return f"{' and '.join(users)} {verb} a validation split, but there is none: {why}"


def table_types_fit(cfg, data) -> str | None:
    """``data.columns.<target>`` against the target's task; ``boolean`` on a column with more than two levels."""
    columns = cfg.extras("data").get("columns") or {}
    target = data.dataset.target_name
    if target in columns:
        given = columns[target]
        if given == "ignore":
            return (f"data.columns.{target}: 'ignore' cannot apply to the target: it is what the model predicts; "
                    f"leave data.columns.{target} out")
        if given not in data.task.column_types:
            want = "a number: data.task: regression" if given == "number" else "classes: data.task: classification"
            return (f"data.columns.{target}: '{given}' does not set the target's type: {data_words(data)} under "
                    f"data.task: {cfg.extras('data').get('task', 'auto')}; to predict it as {want} (and leave "
                    f"data.columns.{target} out)")
    stats = (data.preprocess.get("tabular") or {}).get("stats") or {}
    types = (data.preprocess.get("tabular") or {}).get("types") or {}
    for column, typed in types.items():
        levels = stats.get(column, {}).get("levels") or []
        if typed == "boolean" and len(levels) > 2:
            shown = ", ".join(levels[:6]) + (", ..." if len(levels) > 6 else "")
            return (f"data.columns.{column}: 'boolean' needs two levels, but the column has {len(levels)} in the "
                    f"training rows ({shown}); use category")
    return None


RULES: list[Callable[[Any, Any], str | None]] = [
    model_reads_kind, model_gives_task, loss_fits_task, model_keys_fit_data, table_types_fit,
    options_apply, settings_apply, validation_exists,
]
