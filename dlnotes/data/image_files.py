"""Reading a user's image files: one file or a folder, any size, colour or bit depth, as float tensors.

Pillow decodes every format people hand over (PNG, JPEG, BMP, GIF, TIFF, WebP) and converts colour
modes; the streaming datasets decode with torchvision.io instead, where speed matters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlnotes.data.base import resize_images
from dlnotes.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def image_files(path: Path, where: str = "--input") -> list[Path]:
    """``path`` itself, or the image files directly inside the folder ``path``, sorted."""
    if not path.exists():
        raise UserError(f"{where} '{path}' not found")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise UserError(f"{where} '{path}' holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    return [path]


def read_image(path: Path, channels: int) -> torch.Tensor:
    """One image file as float (C, H, W) in [0, 1], converted to gray (C = 1) or RGB (C = 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"'{path}' is not a readable image ({type(e).__name__}); give PNG, JPEG or BMP files") from None
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)


def load_images(path: Path, image_size: int, channels: int) -> tuple[list[str], torch.Tensor]:
    """Every image at ``path`` resized to (channels, image_size, image_size): (names, (N, C, S, S))."""
    files = image_files(path)
    x = torch.stack([resize_images(read_image(f, channels).unsqueeze(0), image_size)[0] for f in files])
    return [str(f) for f in files], x
