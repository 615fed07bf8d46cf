"""Testing a model: one pass over a split without gradients, then the task's metrics."""

from __future__ import annotations

import torch

from dlnotes.data.prepare import Split


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
def evaluate(model, split: Split, task, loss_fn, batch_size: int, device: torch.device,
             preprocess: dict, num_classes: int = 0, threshold: float = 0.5, autocast=None) -> tuple[dict, torch.Tensor]:
    """Metrics of ``model`` on ``split`` by ``task`` (a ``dlnotes.tasks.Task``), and the raw outputs.

    The loss is in training units (normalised targets); errors are in the data's own units.
    """
    out = predict_outputs(model, split.x, max(batch_size, 256), device, autocast)
    y = split.y.to(device)
    metrics: dict = {"loss": loss_fn(out, y).item()}
    metrics.update(task.split_metrics(out, split, preprocess, num_classes, threshold, metrics["loss"]))
    return metrics, out
