"""Testing a model: one pass over a split without gradients, then the task's metrics."""

from __future__ import annotations

import torch

from dlnotes.data.prepare import Split
from dlnotes.engine.batching import batches


@torch.inference_mode()
def predict_outputs(model, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """The model's raw outputs for all of ``x``, batch by batch, kept on the device."""
    return outputs(model, ((x[s:s + batch_size], None) for s in range(0, len(x), batch_size)), device)[0]


@torch.inference_mode()
def outputs(model, batches, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Outputs (and targets, when the batches carry them) over an iterable of (x, y) batches.

    A batch of ten crops per image (B, 10, C, H, W) gives one output per image: the log of the
    softmax averaged over the crops (Krizhevsky et al. 2012, section 4.1), so the loss and the
    argmax read it like logits."""
    model.eval()
    outs, ys = [], []
    for xb, yb in batches:
        xb = xb.to(device, non_blocking=True)
        crops = xb.shape[1] if xb.dim() == 5 else 0
        if crops:
            xb = xb.flatten(0, 1)
        out = model(xb).float()
        if crops:
            out = out.view(-1, crops, out.shape[-1]).softmax(-1).mean(1).log()
        outs.append(out)
        if yb is not None:
            ys.append(yb.to(device, non_blocking=True))
    return torch.cat(outs), torch.cat(ys) if ys else None


class Evaluator:
    """Tests a model on a split of ``data`` (a ``Prepared``: its task, preprocessing and classes):
    ``metrics, outputs = Evaluator(data, loss_fn, batch_size, device)(model, split)``.

    The loss is in training units (normalised targets); errors are in the data's own units. The
    decision threshold of a binary classifier is the model's own (``Model.threshold``).
    """

    def __init__(self, data, loss_fn, batch_size: int, device: torch.device):
        self.task, self.preprocess = data.task, data.preprocess
        self.num_classes = len(data.dataset.classes or [])
        self.loss_fn, self.batch_size, self.device = loss_fn, max(batch_size, 256), device

    @torch.inference_mode()
    def __call__(self, model, split: Split) -> tuple[dict, torch.Tensor]:
        from dlnotes.engine.weights import unwrap

        out, y = outputs(model, batches(split, self.batch_size, self.device), self.device)
        metrics: dict = {"loss": self.loss_fn(out, y).item()}
        metrics.update(self.task.split_metrics(out, split, self.preprocess, self.num_classes,
                                               unwrap(model).threshold, metrics["loss"]))
        return metrics, out
