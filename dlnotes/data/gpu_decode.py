"""``decode: cuda``: a streamed batch's JPEG files decoded together on the GPU by nvJPEG.

The workers only read and check: ``checked_bytes`` sends a file's bytes when its header is a plain JPEG
(grey or YCbCr/RGB, within ``MAX_PIXELS``, no EXIF rotation) and otherwise decodes it on the CPU with the
one checked decoder (``dlnotes.data.pixels``: CMYK, PNG, rotated photos...), so every file passes the
same checks as on the CPU path. The main process decodes the batch's bytes with torchvision.io's batched
``decode_jpeg(device=...)`` and cuts the views on the GPU (``ImageTransform.device_pixels``).
nvJPEG and libjpeg-turbo may round differently: the images agree to within a few grey levels.
"""

from __future__ import annotations

import numpy as np
import torch

from dlnotes.data.pixels import MAX_PIXELS, read_pixels, regular, to_uint8
from dlnotes.data.transforms import sample_generator
from dlnotes.data.views import chw
from dlnotes.errors import UserError


def checked_bytes(path: str, channels: int) -> torch.Tensor:
    """A JPEG file's bytes (1-D uint8) for nvJPEG, or, for anything else, its decoded (C, H, W) uint8 pixels."""
    from PIL import Image

    regular(path, path)
    try:
        with Image.open(path) as img:
            plain = (img.format == "JPEG" and img.mode in ("L", "RGB") and img.size[0] * img.size[1] <= MAX_PIXELS
                     and img.getexif().get(0x0112, 1) == 1)
    except Exception:  # noqa: BLE001 - read_pixels below says what is wrong with the file
        plain = False
    if not plain:
        return torch.from_numpy(chw(to_uint8(read_pixels(path, channels))))
    return torch.from_numpy(np.fromfile(path, dtype=np.uint8))


def decode_batch(batch, files, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(model input on ``device``, labels) of a batch of ``checked_bytes`` results."""
    data, labels, index, seeds = batch
    images = list(data)
    jpeg = [k for k, d in enumerate(data) if d.dim() == 1]
    for k, img in zip(jpeg, _decode_jpegs([data[k] for k in jpeg], [index[k] for k in jpeg], files, device)):
        images[k] = img
    views = [files.transform.device_pixels(img.to(device, non_blocking=True),
                                           sample_generator(s, i) if s >= 0 else None)
             for img, i, s in zip(images, index, seeds)]
    pixels = torch.stack([p for p, _ in views])
    alpha = torch.stack([a for _, a in views]).to(device)
    return files.transform.finish(pixels, alpha), labels


def _decode_jpegs(data: list[torch.Tensor], index: list[int], files, device: torch.device) -> list[torch.Tensor]:
    from torchvision.io import ImageReadMode, decode_jpeg

    if not data:
        return []
    mode = ImageReadMode.GRAY if files.channels == 1 else ImageReadMode.RGB
    try:
        return decode_jpeg(data, mode=mode, device=device)
    except RuntimeError:  # one file at a time, to name the one nvJPEG cannot decode
        out = []
        for d, i in zip(data, index):
            try:
                out.append(decode_jpeg(d, mode=mode, device=device))
            except RuntimeError as e:
                raise UserError(f"'{files.path(i)}' cannot be decoded on the GPU ({str(e).splitlines()[0][:160]}); "
                                "use data.decode: cpu") from None
        return out
