"""An image model's inputs: uint8 pixels (N, C, S, S) at the run's input size, prepared as training prepared them.

Files, folders (read recursively, class sub-folders too), PIL images and arrays are decoded by the one
checked decoder (``dlnotes.data.pixels``) and made into the model's view by ``dlnotes.data.views``
(``model_pixels``): a digit photo prepared in the dataset's style (ink cropped, fitted and centred, as
MNIST and UCI prepared theirs), the run's resize, or a streamed run's test crop(s). The graph
(``dlnotes.export.arrays``) divides by 255, normalises and answers class probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlnotes.errors import UserError


def contract(meta: dict[str, Any]) -> list[dict[str, Any]]:
    pre = meta["preprocess"]
    s, c = int(pre["image_size"]), int(pre["channels"])
    crops = [10] if pre.get("ten_crop") and (pre.get("recipe") or "none") != "none" else []
    return [{"name": "pixels", "dtype": "uint8", "shape": ["N", *crops, c, s, s]}]


def sources(inputs) -> tuple[list[str], list]:
    """(names, sources): every image file a path names (a folder: all below it, sorted), every PIL image and
    array of ``inputs``; a 4-D array (or tensor) is a batch of images. In-memory images are named by their
    place in ``inputs`` ("0", "1"...)."""
    from PIL import Image

    from dlnotes.data.image_files import image_files

    items = _items(inputs)
    names: list[str] = []
    found: list = []
    for i, item in enumerate(items):
        if isinstance(item, (str, Path)):
            files = image_files(Path(item), recursive=True)
            names += [str(f) for f in files]
            found += files
        elif isinstance(item, Image.Image) or isinstance(item, np.ndarray):
            names.append(str(i))
            found.append(item)
        else:
            raise UserError(f"--input: an image model reads image files, folders, PIL images or arrays; item {i} "
                            f"is a {type(item).__name__}")
    return names, found


def _items(inputs) -> list:
    """``inputs`` as a list of paths, PIL images and (H, W[, C]) / (C, H, W) arrays."""
    if hasattr(inputs, "detach"):  # a torch tensor (torch itself is not imported here)
        inputs = inputs.detach().cpu().numpy()
    if isinstance(inputs, np.ndarray):
        return list(inputs) if inputs.ndim == 4 else [inputs]
    if isinstance(inputs, (list, tuple)):
        out = []
        for item in inputs:
            item = item.detach().cpu().numpy() if hasattr(item, "detach") else item
            out += list(item) if isinstance(item, np.ndarray) and item.ndim == 4 else [item]
        return out
    return [inputs]


def read(meta: dict[str, Any], inputs) -> tuple[list[str], dict[str, np.ndarray]]:
    from dlnotes.data.views import model_pixels

    names, found = sources(inputs)
    if not found:
        raise UserError("--input: no images given")
    return names, {"pixels": model_pixels(found, meta["preprocess"], names)}
