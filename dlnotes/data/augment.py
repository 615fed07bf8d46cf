"""Training-time augmentation for images: small random shifts and rotations, a batch at a time.

Each image gets its own affine map (rotation up to ``degrees``, translation up to ``shift`` of the
image size), applied with ``grid_sample`` on the device, so it costs one kernel per batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float = 10.0, shift: float = 0.1) -> torch.Tensor:
    n = x.shape[0]
    r = torch.rand(n, 3, generator=generator).to(x.device) * 2 - 1  # uniform in [-1, 1)
    angle = r[:, 0] * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, r[:, 1] * shift * 2], 1),
                         torch.stack([sin, cos, r[:, 2] * shift * 2], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # background is the normalised value of a blank pixel: the per-image minimum is a good proxy
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    return F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + background
