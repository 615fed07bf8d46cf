"""Reading a user's image files: one file or a folder, any size, colour or bit depth, as float tensors.

Pillow decodes every format people hand over (PNG, JPEG, BMP, GIF, TIFF, WebP) and converts colour
modes; the streaming datasets decode with torchvision.io instead, where speed matters.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch

from dlnotes.data.base import resize_images
from dlnotes.errors import UserError, path_note

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def image_files(path: Path, where: str = "--input") -> list[Path]:
    """``path`` itself, or the image files directly inside the folder ``path``, sorted (hidden ones skipped)."""
    if not path.exists():
        raise UserError(f"{where} '{path}' not found{path_note(path)}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
        if not files:
            raise UserError(f"{where} '{path}' holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    return [path]


MAX_PIXELS = 64_000_000  # a 50-megapixel photo fits; a 30000x30000 "bomb" (3.6 GB as float) does not
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def read_image(path: Path, channels: int) -> torch.Tensor:
    """One image file as float (C, H, W) in [0, 1], converted to gray (C = 1) or RGB (C = 3).

    8-bit images are divided by 255, 16-bit ones (PNG/TIFF ``I;16``) by 65,535: the full depth is
    kept, never clipped to 8 bits. Only regular files are opened (a FIFO named x.png would block),
    and the pixel count is checked from the header before decoding.
    """
    from PIL import Image, UnidentifiedImageError

    too_big = f"'{path}' has more than {MAX_PIXELS:,} pixels (a decompression bomb, or a photo to shrink first)"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UserError(f"'{path}' is not a regular file (a pipe, device or socket); give an image file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size[0] * img.size[1] > MAX_PIXELS:
                    raise UserError(too_big)
                arr = _pixels(img, channels)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(too_big) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UserError(f"'{path}' is not a readable image ({type(e).__name__}); give PNG, JPEG or BMP files") from None
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)


def _pixels(img, channels: int) -> np.ndarray:
    """Float32 (H, W) or (H, W, 3) in [0, 1], scaled by the true maximum of the image's sample type."""
    if img.mode in _SIXTEEN_BIT or img.mode == "I":
        raw = np.asarray(img)
        top = 65535.0 if img.mode in _SIXTEEN_BIT or raw.max(initial=0) <= 65535 else 2.0**31 - 1
        gray = np.clip(raw.astype(np.float32) / top, 0, 1)
    elif img.mode == "F":
        gray = np.asarray(img, dtype=np.float32)
        if not np.isfinite(gray).all() or gray.min(initial=0) < 0 or gray.max(initial=0) > 1:
            raise ValueError("floating-point pixels outside [0, 1]")
    else:
        return np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
    return gray if channels == 1 else np.repeat(gray[..., None], 3, axis=2)


def load_images(path: Path, image_size: int, channels: int) -> tuple[list[str], torch.Tensor]:
    """Every image at ``path`` resized to (channels, image_size, image_size): (names, (N, C, S, S))."""
    files = image_files(path)
    x = torch.stack([resize_images(read_image(f, channels).unsqueeze(0), image_size)[0] for f in files])
    return [str(f) for f in files], x
