"""Testing a model: one pass over a split without gradients, then the task's metrics."""

from __future__ import annotations

import torch

from dlnotes.data.prepare import Split, denormalize_y
from dlnotes.engine.metrics import classification_metrics, confusion_matrix, labels, regression_metrics


@torch.inference_mode()
def predict_outputs(model, x: torch.Tensor, batch_size: int, device: torch.device, autocast=None) -> torch.Tensor:
    """The model's raw outputs for all of ``x``, batch by batch, kept on the device."""
    model.eval()
    outs = []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].to(device, non_blocking=True)
        if autocast is not None:
            with autocast():
                outs.append(model(xb).float())
        else:
            outs.append(model(xb).float())
    return torch.cat(outs)


@torch.inference_mode()
def evaluate(model, split: Split, task: str, loss_fn, batch_size: int, device: torch.device,
             preprocess: dict, num_classes: int = 0, threshold: float = 0.5, autocast=None) -> tuple[dict, torch.Tensor]:
    """Metrics of ``model`` on ``split`` (loss in training units, errors in the data's own units)."""
    out = predict_outputs(model, split.x, max(batch_size, 256), device, autocast)
    y = split.y.to(device)
    metrics: dict = {"loss": loss_fn(out, y).item()}
    if task == "classification":
        pred = labels(out, threshold)
        metrics.update(classification_metrics(confusion_matrix(pred, y, num_classes)))
    elif task == "language":
        metrics["accuracy"] = (out.argmax(-1) == y).double().mean().item()
        metrics["perplexity"] = float(torch.exp(torch.tensor(metrics["loss"])))
    else:
        pred = denormalize_y(out.reshape(y.shape), preprocess)
        truth = denormalize_y(y, preprocess)
        metrics.update(regression_metrics(pred, truth, with_r2=task == "regression"))
    return metrics, out


def main_metric(task: str) -> tuple[str, bool]:
    """The metric a learning curve and a run table show, and whether higher is better."""
    return {"classification": ("accuracy", True), "language": ("accuracy", True),
            "regression": ("r2", True)}.get(task, ("mse", False))
