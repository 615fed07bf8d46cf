"""Convolution arithmetic: how big is a feature map after a convolution or a pooling layer?"""

from __future__ import annotations

import math


def conv_output_size(n: int, k: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    """Output length of a convolution or pooling along one axis.

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1, which for d = 1 is the notes' floor((n + 2P - k) / S) + 1.
    ``n`` input size, ``k`` kernel, ``p`` padding, ``s`` stride, ``d`` dilation. A result below 1 means the
    input is too small for the layer (returned as is, so callers can say which layer).
    """
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1
