"""The four kinds of input a model reads: images, tables, sequences and text.

Each kind owns what differs between them and not between tasks: which model arguments its shape
gives (``in_channels``, ``image_size``, ``in_features``, ``input_size``, ``seq_len``, ``vocab_size``),
over which axes normalisation statistics are taken, how a user's raw files become a batch for
``predict``, and an example batch for export and layer tables. Everything else asks the kind object.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from dlnotes.errors import UserError


class InputKind:
    name = ""
    image = False  # spatial (N, C, H, W): channels_last, conv arithmetic checks, pictures of mistakes
    drawn_as: str | None = None  # how one example is drawn in a figure: "picture", "curves", or as text
    dtype = torch.float32

    def model_inputs(self, ds) -> dict[str, int]:
        return {}

    def stat_dims(self, x: torch.Tensor) -> list[int]:
        """Axes averaged over for the normalisation statistics (one scalar: all of them)."""
        return list(range(x.dim()))

    def input_stats(self, x: torch.Tensor) -> dict[str, Any]:
        """Statistics of the raw training inputs recorded in meta.json for ``read`` (none by default)."""
        return {}

    def read(self, path: Path, dataset: dict[str, Any], pre: dict[str, Any]) -> tuple[list[str], torch.Tensor]:
        """A user's raw inputs for ``predict``: (names, batch) before normalisation."""
        raise UserError(f"--input: {self.name} models read no files")

    def example(self, shape: list[int], batch: int = 2) -> torch.Tensor:
        return torch.randn((batch, *shape), generator=torch.Generator().manual_seed(0))

    def check_inputs(self, names: list[str], feed: dict[str, Any], pre: dict[str, Any]) -> None:
        """Warnings about prepared inputs (``dlnotes.inputs``) before the model sees them; none by default."""


class Images(InputKind):
    name, image, drawn_as = "image", True, "picture"

    def model_inputs(self, ds) -> dict[str, int]:
        c, h, w = ds.input_shape
        return {"in_channels": c, "image_size": w, "in_features": c * h * w}

    def stat_dims(self, x):
        return [0, 2, 3]  # per channel

    def input_stats(self, x: torch.Tensor) -> dict[str, Any]:
        """What predict's "looks unlike the training images" check needs of the training images, in [0, 1]
        pixels before normalisation (``dlnotes.data.foreign.statistics``)."""
        from dlnotes.data.foreign import statistics

        return {"pixel_stats": statistics(x.numpy())}

    def read(self, path, dataset, pre):
        """Every image at ``path`` (a file, or a folder read recursively: class sub-folders too) as the
        training images were made, by ``dlnotes.data.views.model_pixels`` (a digit photo prepared in the
        dataset's style, the run's resize or test view). Warns (stderr) when an input looks unlike the
        training images (``dlnotes.data.foreign``)."""
        from dlnotes.data.image_files import image_files
        from dlnotes.data.images import unit_pixels
        from dlnotes.data.views import model_pixels

        files = image_files(Path(path), recursive=True)
        names = [str(f) for f in files]
        x = unit_pixels(model_pixels(files, pre))
        if pre.get("recipe", "none") == "none":
            _warn_foreign(names, x, pre.get("pixel_stats"), prepared=pre.get("style") is not None)
        return names, x

    def check_inputs(self, names, feed, pre):
        """Warns (stderr) when an input looks unlike the training images (``dlnotes.data.foreign``)."""
        from dlnotes.data.images import unit_pixels

        if pre.get("recipe", "none") == "none":
            _warn_foreign(names, unit_pixels(feed["pixels"]), pre.get("pixel_stats"),
                          prepared=pre.get("style") is not None)


def _warn_foreign(names: list[str], x: torch.Tensor, stats: dict[str, float] | None, prepared: bool = False) -> None:
    """One stderr line per input (at most 5, then a count) that looks unlike the training images
    (``dlnotes.data.foreign``: the ink's shape for photos ``prepared`` in a digit style, brightness and
    contrast otherwise): an inverted photo, a scan of something else."""
    if not stats:
        return
    import sys

    from dlnotes.data.foreign import unlike

    why = unlike(x.numpy(), stats, prepared)
    lines = [f"warning: '{name}' looks unlike the training images ({reason}): inverted, or another kind of "
             f"picture? the answer may be meaningless" for name, reason in zip(names, why) if reason]
    for line in lines[:5]:
        print(line, file=sys.stderr)
    if len(lines) > 5:
        print(f"warning: {len(lines) - 5} more of the {len(names)} inputs look unlike the training images",
              file=sys.stderr)


class Tables(InputKind):
    name = "tabular"

    def model_inputs(self, ds) -> dict[str, int]:
        # embedded categories (data.tabular) arrive as the last columns, one integer code each
        embedded = ds.table.transform.embedded() if ds.table is not None else []
        return {"in_features": math.prod(ds.input_shape) - len(embedded), "categories": embedded}

    def stat_dims(self, x):
        return [0]  # per feature

    def read(self, path, dataset, pre):
        """The user's raw rows: the recorded tabular preprocessing applied (csv runs), else numeric columns."""
        if "tabular" in pre:
            from dlnotes.data.table_source import read_input

            return read_input(path, pre)
        from dlnotes.data.files import read_csv_columns

        names, arr = read_csv_columns(path, dataset["feature_names"])
        return names, torch.from_numpy(arr)


class Sequences(InputKind):
    name, drawn_as = "sequence", "curves"

    def model_inputs(self, ds) -> dict[str, int]:
        t, f = ds.input_shape[0], ds.input_shape[-1]
        return {"input_size": f, "seq_len": t, "in_features": t * f}

    def read(self, path, dataset, pre):
        from dlnotes.data.sequence_files import read_sequences

        return read_sequences(path, dataset["input_shape"])


class Text(InputKind):
    name, dtype = "text", torch.long

    def model_inputs(self, ds) -> dict[str, int]:
        return {"vocab_size": len(ds.vocab), "seq_len": ds.input_shape[0]}

    def example(self, shape, batch=2):
        return torch.zeros((batch, *shape), dtype=torch.long)


KINDS = {k.name: k for k in (Images(), Tables(), Sequences(), Text())}


def input_kind(name: str) -> InputKind:
    if name not in KINDS:
        raise UserError(f"unknown input kind '{name}'; allowed: {', '.join(KINDS)}")
    return KINDS[name]
