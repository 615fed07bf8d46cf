"""An image as people hand it over, read into a checked pixel array: the one decoder of dlnotes.

Every path that reads an image goes through ``read_pixels``: the in-memory ``image_folder``, the
streaming workers, the statistics pass and ``predict`` (and, on top of ``dlnotes.data.views``,
``dlnotes.inputs.prepare``). numpy + Pillow only: it imports without torch.

Why Pillow: it reads every format and mode people hand over (PNG, JPEG, BMP, GIF, TIFF, WebP; modes 1,
L, LA, P, PA, RGB, RGBA, CMYK, YCbCr, I;16, I, F), applies EXIF orientation, and decodes JPEG with the
same libjpeg-turbo as torchvision.io, to the same pixels and as fast (the copy into numpy adds ~20%,
docs/benchmarks.md), without printing libjpeg's warnings; ``Image.draft`` lets libjpeg decode a large
JPEG at 1/2, 1/4 or 1/8 scale when the model needs fewer pixels (``fit``).

Checks, in order, each one ``UserError`` line naming the file: a regular file (a FIFO named x.png
would block); an image Pillow recognises; at most ``MAX_PIXELS`` pixels, read from the header before
anything is decoded; float pixels finite and in [0, 1] (whole numbers up to 255 or 65,535 are scaled
from those ranges); then anything that fails while decoding (a truncated file, a broken chunk).

What comes back is (H, W, channels): uint8, or uint16 where the source is deeper than 8 bits (16-bit
PNG/TIFF, 32-bit integer and float images), so no depth is lost before the resize. Transparent pixels
are composited on white, the page a viewer shows them on; an animated image gives its first frame.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dlnotes.errors import UserError

MAX_PIXELS = 64_000_000  # a 50-megapixel photo fits; a 30000x30000 "bomb" (2.7 GB as RGB) does not
_SIXTEEN = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as Pillow's convert("L")


def read_pixels(source, channels: int, fit: tuple[int, int] | None = None, name: str | None = None) -> np.ndarray:
    """An image file (path), a PIL image or an array as (H, W, channels) uint8 or uint16 pixels.

    ``fit`` (width, height): the smallest size the caller will use, so a large JPEG may be decoded at a
    reduced scale that still holds it. ``name`` names the source in error messages (default: the path).
    """
    from PIL import Image

    if isinstance(source, np.ndarray):
        return from_array(source, channels, name or "array")
    given = isinstance(source, Image.Image)
    label = name or ("image" if given else str(source))
    if not given:
        regular(Path(source), label)
    try:
        with warnings.catch_warnings():  # Pillow's warnings (odd EXIF, palette transparency) are not the user's
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if given:  # the caller's object: read, never reduced in place by draft
                return _checked(source, channels, None, label)
            with Image.open(source) as img:
                return _checked(img, channels, fit, label)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(_too_big(label)) from None
    except Exception as e:  # noqa: BLE001 - any failure to decode a user's file is that file's fault
        raise UserError(f"'{label}' is not a readable image ({type(e).__name__}: {_first_line(e)}); give PNG, "
                        f"JPEG, BMP, GIF, TIFF or WebP files") from None


def regular(path: Path | str, label: str) -> None:
    """Refuses what is not a regular file, before anything opens it (a FIFO named x.png would block)."""
    from dlnotes.data.checks import regular_file

    regular_file(path, "image" if label == str(path) else f"image {label}:")


def _too_big(label: str) -> str:
    return (f"'{label}' has more than {MAX_PIXELS:,} pixels (a decompression bomb, or a photo to shrink "
            f"first)")


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [""])[0][:200]


def _checked(img, channels: int, fit, label: str) -> np.ndarray:
    """The header checks, then the decode (Pillow decodes lazily: ``size`` and ``mode`` come from the header)."""
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise UserError(_too_big(label))
    if w < 1 or h < 1:
        raise UserError(f"'{label}' has no pixels ({w}x{h})")
    if fit is not None and img.format == "JPEG" and img.mode in ("L", "RGB", "CMYK", "YCbCr"):
        img.draft(img.mode, fit)  # same mode: only the scale changes, so the colours match a full decode
    img = _upright(img)
    if img.mode in _SIXTEEN or img.mode in ("I", "F"):
        deep = _deep(img, label)
        return deep if channels == 1 else np.repeat(deep, 3, axis=2)
    return _eight_bit(img, channels)


def _upright(img):
    """The image turned as its EXIF orientation tag says (phones store photos sideways)."""
    from PIL import Image

    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: keep the image as stored
        return img
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return img.transpose(method) if method is not None else img


def _eight_bit(img, channels: int) -> np.ndarray:
    """Modes 1, L, P, RGB, CMYK, YCbCr... and their alpha variants as (H, W, channels) uint8."""
    palette_alpha = img.mode == "P" and ("transparency" in img.info or getattr(img.palette, "mode", "") == "RGBA")
    if palette_alpha or img.mode in _ALPHA:
        rgba = np.asarray(img.convert("RGBA"))
        return on_white(rgba[..., :3], rgba[..., 3:], channels)
    target = "L" if channels == 1 else "RGB"
    if img.mode not in ("1", "L", "P", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr and any other mode Pillow knows go through RGB
    out = np.asarray(img.convert(target) if img.mode != target else img)
    return out[..., None] if out.ndim == 2 else out


def on_white(rgb: np.ndarray, alpha: np.ndarray, channels: int) -> np.ndarray:
    """Colour over white: c * a + 255 * (1 - a), a = alpha / 255, rounded; then grey or RGB."""
    a = alpha.astype(np.float32) / 255.0
    out = rgb.astype(np.float32) * a + 255.0 * (1.0 - a)
    return to_channels(np.rint(out).astype(np.uint8), channels)


def _deep(img, label: str) -> np.ndarray:
    """16-bit, 32-bit integer and float grey images as (H, W, 1) uint16, the full depth scaled to 0..65535."""
    raw = np.asarray(img)
    if img.mode in _SIXTEEN:
        return raw.astype(np.uint16)[..., None]
    if img.mode == "I":
        if raw.size and raw.min() < 0:
            raise UserError(f"'{label}' holds negative 32-bit pixel values ({int(raw.min())}); give pixels >= 0")
        top = 65535 if raw.max(initial=0) <= 65535 else 2**31 - 1
        return np.rint(raw.astype(np.float64) * (65535 / top)).astype(np.uint16)[..., None]
    return float_pixels(raw, label)[..., None]


def float_pixels(raw: np.ndarray, label: str) -> np.ndarray:
    """Float pixels as uint16: values in [0, 1] as they are (x 65,535); whole numbers up to 255 or 65,535
    read as 8- or 16-bit values saved as floats; anything else refused, naming the range found."""
    x = raw.astype(np.float64)
    if not np.isfinite(x).all():
        raise UserError(f"'{label}' holds NaN or infinite pixel values; give finite pixels in [0, 1]")
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if low >= 0 and high <= 1:
        return np.rint(x * 65535).astype(np.uint16)
    whole = low >= 0 and bool(np.all(x == np.floor(x)))
    if whole and high <= 255:
        return (x * 257).astype(np.uint16)  # 255 * 257 = 65535: the 8-bit scale, exactly
    if whole and high <= 65535:
        return x.astype(np.uint16)
    raise UserError(f"'{label}' holds floating-point pixels from {low:g} to {high:g}; dlnotes reads float "
                    f"images in [0, 1] (or whole numbers up to 255 or 65,535): rescale it to [0, 1]")


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, C) with C in {1, 3, 4} as (H, W, channels): grey repeated, colour to ITU-R 601-2 luma."""
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.shape[2] == channels:
        return arr
    if channels == 3:
        return np.repeat(arr, 3, axis=2)
    if arr.dtype == np.uint8:  # Pillow's own conversion, bit for bit
        from PIL import Image

        return np.asarray(Image.fromarray(np.ascontiguousarray(arr), "RGB").convert("L"))[..., None]
    grey = arr.astype(np.float64) @ np.array(LUMA)
    return np.rint(grey).astype(arr.dtype)[..., None]


def from_array(arr: np.ndarray, channels: int, label: str) -> np.ndarray:
    """A numpy image: (H, W), (H, W, C) or (C, H, W) with C in {1, 3, 4} (4: RGBA, composited on white);
    uint8, uint16, bool, or float in [0, 1] (as ``float_pixels``)."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)  # (C, H, W), torch's layout
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise UserError(f"{label}: an image array is (H, W), (H, W, C) or (C, H, W) with C = 1, 3 or 4; "
                        f"got shape {tuple(np.shape(arr))}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise UserError(_too_big(label))
    a = _integer_pixels(a, label)
    if a.shape[2] == 4:
        if a.dtype != np.uint8:
            a = to_uint8(a)
        return on_white(a[..., :3], a[..., 3:], channels)
    return np.ascontiguousarray(to_channels(a, channels))


def _integer_pixels(a: np.ndarray, label: str) -> np.ndarray:
    """An array's values as uint8 or uint16: bool as 0/255, floats as ``float_pixels``, other integers
    as they are when they fit in 0..65535."""
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype.kind == "f":
        return float_pixels(a, label)
    if a.dtype in (np.uint8, np.uint16):
        return a
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise UserError(f"{label}: integer pixels must lie in 0..255 (uint8) or 0..65535 (uint16); "
                        f"got {a.min()}..{a.max()}")
    return a.astype(np.uint16 if a.max(initial=0) > 255 else np.uint8)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """uint16 pixels to uint8: round(x * 255 / 65535) = round(x / 257); uint8 unchanged."""
    if arr.dtype == np.uint8:
        return arr
    return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
