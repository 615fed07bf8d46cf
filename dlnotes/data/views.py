"""What a model sees of an image, in numpy + Pillow: the resize to its input size and the test views.

    none       every image resized to S x S (the in-memory path, and streamed folders without a recipe)
    centre     (crop recipes, at test time) the short side to round(S * 8 / 7) (the paper's 256 for 224),
               its central square, then the central S x S crop
    ten crops  the four corners and the centre of that square, and their mirror images: (10, ...)

``model_pixels(sources, pre)`` applies a run's recorded preprocessing (meta.json ``preprocess``:
image_size, channels, style, recipe, ten_crop) to image files, PIL images or arrays and returns exactly
the uint8 batch the model reads before ``/ 255`` and normalisation: (N, C, S, S), or (N, 10, C, S, S)
with ten crops. The in-memory ``image_folder``, the streaming workers, the statistics pass and
``predict`` all make their pixels here, so an image is prepared the same way wherever it is read.

Resizing is Pillow's bilinear filter, which widens its support when shrinking (antialiased: the filter
torchvision's ``antialias=True`` reproduces); uint8 images are resized as uint8, deeper ones per channel
in float ("F" mode) and rounded to uint8 once. Sizes and crop offsets follow torchvision's conventions
(``resize(img, [size])`` floors the long side, ``center_crop`` rounds the offset), so the GPU path
(``decode: cuda``, torch on the device) takes the same crops.
"""

from __future__ import annotations

import numpy as np

from dlnotes.data.digit_photos import prepare_photo
from dlnotes.data.pixels import read_pixels, to_channels, to_uint8

RECIPES = ("none", "krizhevsky", "random_resized_crop")


def short_side(image_size: int) -> int:
    """The paper's 256 for a 224 crop, scaled: round(image_size * 256 / 224)."""
    return round(image_size * 8 / 7)


def resize(arr: np.ndarray, height: int, width: int, box: tuple[float, ...] | None = None) -> np.ndarray:
    """(H, W, C) uint8/uint16 pixels, or the region ``box`` = (left, top, right, bottom) of them, resized to
    (height, width, C) uint8 with Pillow's bilinear filter."""
    from PIL import Image

    if box is None and arr.shape[:2] == (height, width):
        return to_uint8(arr)
    bilinear = Image.Resampling.BILINEAR
    if arr.dtype == np.uint8:
        img = Image.fromarray(np.ascontiguousarray(arr[..., 0] if arr.shape[2] == 1 else arr))
        out = np.asarray(img.resize((width, height), bilinear, box=box))
        return out[..., None] if out.ndim == 2 else out
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(arr[..., c], dtype=np.float32), "F")
                         .resize((width, height), bilinear, box=box)) for c in range(arr.shape[2])]
    return np.clip(np.rint(np.stack(planes, axis=-1) * (255 / 65535)), 0, 255).astype(np.uint8)


def short_side_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(height, width) with the shorter side ``size``, the longer floor(size * long / short) (torchvision's rule)."""
    return (int(size * h / w), size) if w <= h else (size, int(size * w / h))


def resize_short(arr: np.ndarray, size: int) -> np.ndarray:
    """Rescaled so that the shorter side is ``size`` (``short_side_shape``)."""
    h, w = arr.shape[:2]
    return to_uint8(arr) if min(h, w) == size else resize(arr, *short_side_shape(h, w, size))


def centre_offset(length: int, crop: int) -> int:
    """torchvision's ``center_crop`` offset: int(round((length - crop) / 2)), Python's round (half to even)."""
    return int(round((length - crop) / 2.0))


def centre_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    top, left = centre_offset(h, size), centre_offset(w, size)
    return arr[top:top + size, left:left + size]


def ten_crops(arr: np.ndarray, size: int) -> np.ndarray:
    """(10, size, size, C): the corners (top left, top right, bottom left, bottom right) and the centre,
    then the same five mirrored left to right."""
    h, w = arr.shape[:2]
    five = [arr[:size, :size], arr[:size, w - size:], arr[h - size:, :size], arr[h - size:, w - size:],
            centre_crop(arr, size)]
    return np.stack(five + [c[:, ::-1] for c in five])


def chw(arr: np.ndarray) -> np.ndarray:
    """(..., H, W, C) as contiguous, writable (..., C, H, W), the layout a model reads (copied at most once)."""
    return np.require(np.moveaxis(arr, -1, -3), requirements=["C", "W"])


def fit(image_size: int, recipe: str) -> tuple[int, int]:
    """The smallest decoded size a view needs (for ``read_pixels``' reduced-scale JPEG decoding)."""
    side = image_size if recipe == "none" else short_side(image_size)
    return side, side


def view(arr: np.ndarray, image_size: int, recipe: str = "none", ten_crop: bool = False) -> np.ndarray:
    """The deterministic view of decoded pixels: (C, S, S) uint8, or (10, C, S, S) with ten crops."""
    s = image_size
    if recipe == "none":
        return chw(resize(arr, s, s))
    r = short_side(s)
    square = centre_crop(resize_short(arr, r), r)
    return chw(ten_crops(square, s) if ten_crop else centre_crop(square, s))


def photo_view(arr: np.ndarray, style: str, image_size: int, channels: int) -> np.ndarray:
    """A photo of a digit (grey pixels) prepared in the dataset's ``style`` (``digit_photos``) at the
    dataset's own side, rounded to uint8 as the dataset's files are, then resized like its images."""
    grey = arr[..., 0].astype(np.float64) / (255.0 if arr.dtype == np.uint8 else 65535.0)
    photo = np.rint(prepare_photo(grey, style) * 255).astype(np.uint8)[..., None]
    return chw(to_channels(resize(photo, image_size, image_size), channels))


def model_pixels(sources, pre: dict, names: list[str] | None = None) -> np.ndarray:
    """The uint8 batch a run's model reads for ``sources`` (paths, PIL images or arrays), from the run's
    preprocessing ``pre``: (N, C, S, S), or (N, 10, C, S, S) with ten crops. ``names`` name the sources
    in error messages."""
    s, channels = int(pre["image_size"]), int(pre["channels"])
    style, recipe, ten = pre.get("style"), pre.get("recipe") or "none", bool(pre.get("ten_crop"))
    out = []
    for i, src in enumerate(sources):
        name = names[i] if names is not None else None
        if style is not None:
            out.append(photo_view(read_pixels(src, 1, name=name), style, s, channels))
        else:
            out.append(view(read_pixels(src, channels, fit(s, recipe), name), s, recipe, ten))
    if not out:
        return np.zeros((0, channels, s, s), np.uint8)
    return np.stack(out)
