"""The server's limits, and ``Refused``: a request it answers with a 4xx and ``{"error": "one line"}``.

    body_bytes      16 MiB   a request's body (413 beyond; checked before it is read whole)
    inputs          256      inputs in one request (413 beyond)
    image_pixels    16 Mpx   one image's width x height, read from its header before decoding (413: a
                             decompression bomb, or a photo to shrink first)
    request_pixels  64 Mpx   all of a request's images together
    prompt_chars    10,000   one text prompt
    series_values   1 M      the numbers of a request's series or sequences together
    steps           1,000    a forecast's or a text continuation's steps
    in_flight       64       connections uvicorn serves at once (503 beyond)

A digit drawn on the page is a few kilobytes; 256 MNIST-sized PNGs base64-encoded are about 100 kB.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    body_bytes: int = 16 * 1024 * 1024
    inputs: int = 256
    image_pixels: int = 4096 * 4096
    request_pixels: int = 64 * 1024 * 1024
    prompt_chars: int = 10_000
    series_values: int = 1_000_000
    steps: int = 1000
    in_flight: int = 64


LIMITS = Limits()


class Refused(Exception):
    """A request the server does not answer: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())
