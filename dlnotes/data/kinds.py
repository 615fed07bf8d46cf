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


class Images(InputKind):
    name, image = "image", True

    def model_inputs(self, ds) -> dict[str, int]:
        c, h, w = ds.input_shape
        return {"in_channels": c, "image_size": w, "in_features": c * h * w}

    def stat_dims(self, x):
        return [0, 2, 3]  # per channel

    def input_stats(self, x: torch.Tensor) -> dict[str, Any]:
        """The training images' brightness (per-image mean) and contrast (per-image std), in [0, 1]
        pixels before normalisation: their average and spread, for ``read`` to flag a foreign input."""
        per = x.flatten(1)
        mean, contrast = per.mean(1).double(), per.std(1, unbiased=False).double()
        return {"pixel_stats": {"mean": mean.mean().item(), "mean_sd": mean.std(unbiased=False).item(),
                                "contrast": contrast.mean().item(), "contrast_sd": contrast.std(unbiased=False).item()}}

    def read(self, path, dataset, pre):
        """Every image at ``path`` (a file, or a folder read recursively: class sub-folders too) as the
        training images were made: a digit photo prepared in the dataset's style (``digit_photos``),
        then resized to the run's image_size. Warns (stderr) when an input's brightness or contrast lies
        far outside the training images'."""
        from dlnotes.data.base import resize_images
        from dlnotes.data.digit_photos import prepare_photo
        from dlnotes.data.image_files import IMAGE_SUFFIXES, image_files, read_image

        path = Path(path)
        if path.is_dir():  # with class sub-folders (image_folder's layout), every image below
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise UserError(f"--input '{path}' holds no image files ({', '.join(IMAGE_SUFFIXES)}), "
                                f"nor do its sub-folders")
        else:
            files = image_files(path)
        if pre.get("recipe", "none") != "none":  # a streamed run's test view: short side, central crop(s)
            from dlnotes.data.stream import decode_file
            from dlnotes.data.transforms import ImageTransform

            view = ImageTransform(pre["image_size"], pre["recipe"], ten_crop=pre.get("ten_crop", False))
            return [str(f) for f in files], torch.stack([view(decode_file(str(f), pre["channels"])) for f in files])
        style, channels = pre.get("style"), pre["channels"]
        images = []
        for f in files:
            img = read_image(f, channels)
            if style is not None:
                img = prepare_photo(img, style).expand(channels, -1, -1)
            images.append(resize_images(img.unsqueeze(0), pre["image_size"])[0])
        x = torch.stack(images)
        _warn_foreign([str(f) for f in files], x, pre.get("pixel_stats"))
        return [str(f) for f in files], x


def _warn_foreign(names: list[str], x: torch.Tensor, stats: dict[str, float] | None, z: float = 4.0) -> None:
    """One stderr line per input (at most 5, then a count) whose brightness or contrast is more than ``z``
    spreads (and 0.1) away from the training images': an inverted photo, a scan of something else."""
    if not stats:
        return
    import sys

    per = x.double().flatten(1)
    lines = []
    for name, m, c in zip(names, per.mean(1).tolist(), per.std(1, unbiased=False).tolist()):
        far_m = abs(m - stats["mean"]) > max(z * stats["mean_sd"], 0.1)
        far_c = abs(c - stats["contrast"]) > max(z * stats["contrast_sd"], 0.1)
        if far_m or far_c:
            lines.append(f"warning: '{name}' looks unlike the training images (brightness {m:.2f}, contrast "
                         f"{c:.2f}; training {stats['mean']:.2f} +- {stats['mean_sd']:.2f}, {stats['contrast']:.2f} "
                         f"+- {stats['contrast_sd']:.2f}): inverted, or another kind of picture? the answer may be "
                         f"meaningless")
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
    name = "sequence"

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
