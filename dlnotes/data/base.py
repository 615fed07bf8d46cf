"""What a dataset constructor returns, and the in-memory image resizing they share."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from dlnotes.errors import UserError


@dataclass
class Dataset:
    """Tensors of one dataset, before splitting and normalisation, with the facts ``predict`` needs later.

    ``x``/``y`` hold all the data, or the training part when the source has its own test split
    (``x_test``/``y_test``). Images are float (N, C, H, W) in [0, 1]; tabular data float (N, F);
    sequences float (N, T, F); text long (N, T). Classification targets are long class indices.
    ``task`` and ``kind`` name a task and an input kind: the collect step (``dlnotes.run.collect``) resolves
    them into the objects that everything downstream is handed.
    The typed fields after them are recorded in meta.json's ``preprocess`` when set.
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
    # facts about the inputs, recorded for predict (None: does not apply)
    image_size: int | None = None  # images: square side the model reads
    channels: int | None = None  # images: 1 (gray) or 3 (RGB)
    seq_len: int | None = None  # sequences and text: steps per window
    input_size: int | None = None  # sequences: features per step
    horizon: int | None = None  # forecasting: values predicted per window
    column: str | None = None  # timeseries_csv: the forecast column
    vocab: list[str] | None = None  # text: the characters, in index order
    split_gap: int | None = None  # windows cut from one series: test on its end, this many windows apart
    true_w: float | None = None  # synthetic data: the coefficients it was generated with
    true_b: float | None = None
    recipe: str | None = None  # streamed images: the augmentation recipe (dlnotes.data.transforms)
    ten_crop: bool | None = None  # streamed images: tested on ten crops
    loading: str | None = None  # image folders: in memory or streamed, and why
    style: str | None = None  # images: how the training images were drawn ("mnist", "digits"): predict prepares photos so
    transform: str | None = None  # timeseries_csv: none | diff | log | pct (dlnotes.data.series_transform)
    relative: bool | None = None  # timeseries_csv: targets are minus the window's last value
    period: int | None = None  # timeseries_csv: the season's length, for the seasonal naive baseline
    missing: str | None = None  # timeseries_csv: interpolate | error
    raw: torch.Tensor | None = None  # timeseries_csv: each window's input in the user's units (N, seq_len)
    note: str | None = None  # one line on what the constructor did (values read, gaps filled), shown at train time
    table: Any = None  # csv: the raw rows (data.tabular.Table); prepare fits its preprocessing and fills x

    FACTS = ("image_size", "channels", "seq_len", "input_size", "horizon", "column", "vocab", "true_w", "true_b",
             "recipe", "ten_crop", "loading", "style", "transform", "relative", "period", "missing")

    def __post_init__(self):
        if len(self.x) == 0:
            raise UserError("the dataset is empty: no samples to train on")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def ordered(self) -> bool:
        """Windows of one series in time order (split by time, not shuffled)."""
        return self.split_gap is not None

    def facts(self) -> dict[str, Any]:
        """The typed facts that are set, as plain data for meta.json."""
        return {k: getattr(self, k) for k in self.FACTS if getattr(self, k) is not None}

    @property
    def info(self) -> dict[str, Any]:  # read-only view kept for notebooks written against 0.1
        return {**self.facts(), **({"ordered": True, "split_gap": self.split_gap} if self.ordered else {})}


assert {f.name for f in fields(Dataset)} >= set(Dataset.FACTS)


def image_gib(n: int, channels: int, size: int) -> float:
    """GiB that n images of channels x size x size take as a float32 tensor."""
    return n * channels * size * size * 4 / 2**30


def check_image_memory(n: int, channels: int, size: int, limit_gb: float = 16.0) -> None:
    """Refuses to resize a dataset in memory when the float32 result would not fit comfortably."""
    need = image_gib(n, channels, size)
    if need > limit_gb:
        raise UserError(f"data.image_size: {n} images at {channels}x{size}x{size} need {need:.1f} GiB of memory "
                        f"as float32 (limit {limit_gb:g} GiB); use a smaller image_size or fewer images")
