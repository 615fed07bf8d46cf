"""What a dataset constructor returns, and the in-memory image resizing they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from dlnotes.errors import UserError

TASKS = ("classification", "regression", "forecasting", "language")
KINDS = ("image", "tabular", "sequence", "text")


@dataclass
class Dataset:
    """Tensors of one dataset, before splitting and normalisation.

    ``x``/``y`` hold all the data, or the training part when the source has its own test split
    (``x_test``/``y_test``). Images are float (N, C, H, W) in [0, 1]; tabular data float (N, F);
    sequences float (N, T, F); text long (N, T). Classification targets are long class indices.
    A streamed image folder's ``x`` is its files (``dlnotes.data.stream.ImageFiles``, with ``shape``).
    """

    x: torch.Tensor
    y: torch.Tensor
    task: str
    kind: str
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    classes: list[str] | None = None
    feature_names: list[str] | None = None
    target_name: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # what predict needs to read raw inputs

    def __post_init__(self):
        assert self.task in TASKS and self.kind in KINDS, (self.task, self.kind)
        if len(self.x) == 0:
            raise UserError("the dataset is empty: no samples to train on")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def model_inputs(self) -> dict[str, int]:
        """Model constructor arguments that follow from the data (``num_classes``, ``in_channels``...)."""
        shape = self.input_shape
        out: dict[str, int] = {}
        if self.kind == "image":
            out.update(in_channels=shape[0], image_size=shape[-1])
        if self.kind in ("image", "tabular"):
            n = 1
            for s in shape:
                n *= s
            out["in_features"] = n
        if self.kind == "sequence":
            out.update(input_size=shape[-1], seq_len=shape[0])
            out["in_features"] = shape[0] * shape[-1]
        if self.kind == "text":
            out.update(vocab_size=len(self.info["vocab"]), seq_len=shape[0])
        if self.task == "classification":
            out["num_classes"] = len(self.classes or [])
        elif self.task == "forecasting":
            out["horizon"] = int(self.y.shape[1]) if self.y.dim() > 1 else 1
            out["num_classes"] = 0
        elif self.task == "regression":
            out["num_classes"] = 0
            out["out_features"] = int(self.y.shape[1]) if self.y.dim() > 1 else 1
        if self.task == "forecasting":
            out["out_features"] = out["horizon"]
        return out


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resizes a float (N, C, H, W) batch to (N, C, size, size), bilinear (antialiased when shrinking)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    shrink = x.shape[-1] > size or x.shape[-2] > size
    out = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
    return out.clamp_(0, 1)


def check_image_memory(n: int, channels: int, size: int, limit_gb: float = 16.0) -> None:
    """Refuses to resize a dataset in memory when the float32 result would not fit comfortably."""
    need = n * channels * size * size * 4 / 2**30
    if need > limit_gb:
        raise UserError(f"data.image_size: {n} images at {channels}x{size}x{size} need {need:.1f} GiB of memory "
                        f"as float32 (limit {limit_gb:g} GiB); use a smaller image_size or fewer images")
