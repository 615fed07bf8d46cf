"""Images sent to the server: base64 text or uploaded bytes, checked, then handed to ``Run.predict`` as files.

Each image is opened from memory with Pillow: its format must be PNG or JPEG, its size (read from the
header, before any pixel is decoded) at most ``LIMITS.image_pixels`` (a decompression bomb, a few
kilobytes that claim gigapixels, is refused there), and it must decode whole. The checked bytes are then
written unchanged into a temporary folder, one file per input in order, and ``Run.predict`` reads that
folder as ``dlnotes predict --input FOLDER`` does: the same reader, the same digit-photo preparation, so
the server answers exactly what ``predict`` answers for the same files.
"""

from __future__ import annotations

import base64
import binascii
import io
import tempfile
import warnings
from pathlib import Path

from dlnotes.serve.limits import LIMITS, Refused

FORMATS = {"PNG": ".png", "JPEG": ".jpg"}


def from_base64(text: str, where: str) -> bytes:
    """The bytes of a base64 image (a ``data:image/...;base64,`` URL prefix is allowed)."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, f"{where}: not valid base64 (give the PNG or JPEG file's bytes base64-encoded)") from None


def check(blob: bytes, where: str) -> tuple[str, int]:
    """(file suffix, pixel count) of an image's bytes; ``Refused`` unless a whole PNG or JPEG within the limits."""
    from PIL import Image, UnidentifiedImageError

    bomb = f"{where}: more than {LIMITS.image_pixels:,} pixels (a decompression bomb, or a photo to shrink first)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as img:
                if img.format not in FORMATS:
                    raise Refused(415, f"{where}: a {img.format} image; give PNG or JPEG")
                pixels = img.size[0] * img.size[1]
                if pixels > LIMITS.image_pixels:
                    raise Refused(413, bomb)
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(413, bomb) from None
    except UnidentifiedImageError:
        raise Refused(400, f"{where}: not an image (give PNG or JPEG bytes)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise Refused(400, f"{where}: a damaged or truncated image ({type(e).__name__})") from None
    return FORMATS[img.format], pixels


class ImageFolder:
    """A temporary folder holding ``blobs`` as 000000.png, 000001.jpg, ...: the sorted order is the order
    given. Use as a context manager; the folder is removed on exit."""

    def __init__(self, blobs: list[bytes], where: list[str]):
        self.blobs, self.where = blobs, where

    def __enter__(self) -> Path:
        total, checked = 0, []
        for blob, where in zip(self.blobs, self.where):
            suffix, pixels = check(blob, where)
            total += pixels
            if total > LIMITS.request_pixels:
                raise Refused(413, f"the images of one request hold more than {LIMITS.request_pixels:,} pixels "
                                   f"together; send fewer per request")
            checked.append(suffix)
        self._dir = tempfile.TemporaryDirectory(prefix="dlnotes-serve-")
        folder = Path(self._dir.name)
        for i, (blob, suffix) in enumerate(zip(self.blobs, checked)):
            (folder / f"{i:06d}{suffix}").write_bytes(blob)
        return folder

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()
