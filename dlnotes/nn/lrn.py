"""Local Response Normalization, as Krizhevsky, Sutskever & Hinton (2012), section 3.3, write it:

    b[i] = a[i] / (k + alpha * sum_{j in window(i)} a[j]^2) ** beta

with the window the n channels around channel i (clipped at the edges), and the paper's constants
k = 2, n = 5, alpha = 1e-4, beta = 0.75. ``torch.nn.LocalResponseNorm`` divides alpha by the window
size instead (its alpha is ``n *`` ours) and defaults k = 1; tests check that mapping. For an even n
the window, like torch's, takes n // 2 channels before i and (n - 1) // 2 after.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocalResponseNorm(nn.Module):
    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        n, channels = self.size, a.shape[1]
        squares = a.pow(2)
        pad = [0, 0] * (a.dim() - 2) + [n // 2, (n - 1) // 2]  # zero channels beyond the edges
        padded = F.pad(squares, pad)
        window = sum(padded[:, j:j + channels] for j in range(n))  # sum of a[j]^2 over the window of i
        return a / (self.k + self.alpha * window).pow(self.beta)

    def to_torch(self) -> nn.LocalResponseNorm:
        """The equivalent ``torch.nn.LocalResponseNorm`` (alpha scaled by the window size)."""
        return nn.LocalResponseNorm(self.size, alpha=self.alpha * self.size, beta=self.beta, k=self.k)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
