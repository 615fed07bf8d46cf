"""The four tasks of the notes, one object each: classification, regression, forecasting, language.

A task owns everything that differs between them: the default loss, the model's output size, the
statistics of its targets, its metrics and their one-line summary, how a trained model's outputs
become prediction rows, and which figures a run draws. The collect step (``dlnotes.run.collect``) and
``Run.load`` resolve the task once from its name; the engine, evaluation, prediction and the figures
are handed the object and never compare names.

    classification  cross-entropy; accuracy, precision, recall, F1 from TP/TN/FP/FN; class + probability
    regression      MSE on standardised targets; mse, mae, r2 in the data's units; a value per row
    forecasting     MSE on the series' standardised values; mse, mae; values rolled out step by step
    language        per-step cross-entropy over characters; accuracy, perplexity; a sampled continuation
"""

from __future__ import annotations

from typing import Any

from dlnotes.errors import UserError
from dlnotes.tasks.base import Report, Spec, Task
from dlnotes.tasks.classification import Classification, folder_labels
from dlnotes.tasks.forecasting import Forecasting
from dlnotes.tasks.language import Language
from dlnotes.tasks.regression import Regression

TASKS = {t.name: t for t in (Classification(), Regression(), Forecasting(), Language())}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise UserError(f"unknown task '{name}'; allowed: {', '.join(TASKS)}")
    return TASKS[name]


def spec_from_meta(meta: dict[str, Any], threshold: float = 0.5, seed: int = 0) -> Spec:
    """What applying a run's model needs, from its meta.json: the task and input kind resolved once."""
    from dlnotes.data.kinds import input_kind

    ds = meta["dataset"]
    return Spec(get_task(ds["task"]), input_kind(ds["kind"]), meta["preprocess"], ds, threshold, seed)


__all__ = ["TASKS", "Task", "Spec", "Report", "get_task", "spec_from_meta", "folder_labels",
           "Classification", "Regression", "Forecasting", "Language"]
