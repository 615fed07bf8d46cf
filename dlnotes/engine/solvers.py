"""Closed-form and exhaustive solvers for linear regression (``train.solver: least_squares | grid``).

(``train.solver: gd``, gradient descent, is the training loop of ``dlnotes.engine.trainer``.)

least_squares: setting dL/dw = 0 and dL/db = 0 for L = sum (Xw + b - y)^2 gives b = mean(y) - mean(X) w
and the centred normal equations
    (X - mean X)^T (X - mean X) w = (X - mean X)^T (y - mean y).
One pass over row chunks accumulates, in float64, the Gram matrix of [X y] shifted by the first
chunk's mean (no cancellation when the means are large against the spread); the centred sums follow
exactly from the shifted ones. The system is scaled to the correlation matrix R (unit diagonal), whose
eigenvalues say how far from collinear the features are: when the smallest is below
RCOND x the largest, some combination of features carries no information (rank deficiency), and the
minimum-norm answer comes from an SVD-based solve (LAPACK gelsd) that drops those directions;
otherwise Cholesky solves R. The test is explicit, so the method and the answer are the same on
every CPU, rather than depending on whether a given BLAS happens to fail a Cholesky factorisation.

grid_search: the notes' first method: evaluate L(w, b) on every point of a grid and keep the best.
"""

from __future__ import annotations

import numpy as np
import torch

from dlnotes.errors import UserError

CHUNK_ROWS = 8192  # a float64 chunk of ~100 columns stays in cache between the cast and the product
LEAST_SQUARES = ("least_squares", "lstsq")  # train.solver: the normal equations (lstsq: the old name)
RCOND = 1e-10  # eigenvalue ratio of R below which a direction counts as collinear: past it, float64
               # normal equations keep fewer than 6 of their 16 digits in that direction


def least_squares(x: torch.Tensor, y: torch.Tensor, chunk: int = CHUNK_ROWS) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Returns (w of shape (outputs, features), b of shape (outputs,), method: "cholesky" | "lstsq").

    The pass over the rows is numpy's, on the CPU where the collected data lives: each chunk is cast and
    shifted in one single-threaded step, and ``b.T @ b`` is one BLAS syrk (0.28 s against torch's
    ``addmm_`` 0.49 s at 800,000 x 100: docs/benchmarks.md). The small d x d solve is torch's.
    """
    x = x.flatten(1).numpy()
    y = y.reshape(len(y), -1).numpy()
    n, d = x.shape
    shift = np.concatenate([x[:chunk].mean(0, dtype=np.float64), y[:chunk].mean(0, dtype=np.float64)])
    gram = np.zeros((d + y.shape[1], d + y.shape[1]))
    sums = np.zeros(d + y.shape[1])
    buf = np.empty((min(chunk, n), d + y.shape[1]))
    for start in range(0, n, chunk):
        b = buf[:min(chunk, n - start)]
        np.subtract(x[start:start + chunk], shift[:d], out=b[:, :d])
        np.subtract(y[start:start + chunk], shift[d:], out=b[:, d:])
        gram += b.T @ b
        sums += b.sum(0)
    offset = torch.from_numpy(sums / n)  # mean - shift
    centred = torch.from_numpy(gram) - n * torch.outer(offset, offset)
    mean = torch.from_numpy(shift) + offset
    cxx, cxy = centred[:d, :d], centred[:d, d:]
    scale = cxx.diagonal().clamp_min(0).sqrt()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant column: R keeps a zero row
    r = cxx / torch.outer(scale, scale)
    q = cxy / scale[:, None]
    eig = torch.linalg.eigvalsh(r)
    if eig[0] > RCOND * eig[-1]:
        method, z = "cholesky", torch.cholesky_solve(q, torch.linalg.cholesky(r))
    else:
        method = "lstsq"
        z = torch.linalg.lstsq(r, q, rcond=RCOND, driver="gelsd").solution
    w = z / scale[:, None]  # (features, outputs)
    b = mean[d:] - mean[:d] @ w
    return w.T, b, method


def fold_standardisation(w: torch.Tensor, b: torch.Tensor, pre: dict, input_shape) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, b) of y = x w^T + b in the data's units -> the same line for standardised x and y.

    With x' = (x - mx)/sx and y' = (y - my)/sy:  y' = x' (w sx / sy)^T + (mx . w + b - my)/sy.
    mx, sx are read back through ``normalize`` itself, so they broadcast exactly as it applies them
    (per feature, per image channel or one scalar).
    """
    from dlnotes.data.prepare import normalize

    if "x_mean" in pre:
        zero = normalize(torch.zeros(1, *input_shape, dtype=torch.float64), pre).flatten()
        inv_sx = normalize(torch.ones(1, *input_shape, dtype=torch.float64), pre).flatten() - zero
        sx = 1 / inv_sx
        mx = -zero * sx
        b = b + w @ mx
        w = w * sx
    if "y_mean" in pre:
        my = torch.tensor(pre["y_mean"], dtype=torch.float64).reshape(-1)
        sy = torch.tensor(pre["y_std"], dtype=torch.float64).reshape(-1)
        w, b = w / sy[:, None], (b - my) / sy
    return w, b


def grid_search(x: torch.Tensor, y: torch.Tensor, w_min: float, w_max: float, b_min: float, b_max: float,
                steps: int) -> dict:
    """L(w, b) = 1/n sum (w x + b - y)^2 on every point of a steps x steps grid; the best point. One feature."""
    x, y = x.reshape(-1).double(), y.reshape(-1).double()
    s = steps
    ws = torch.linspace(w_min, w_max, s, dtype=torch.float64)
    bs = torch.linspace(b_min, b_max, s, dtype=torch.float64)
    surface = torch.empty(s, s, dtype=torch.float64)
    # rows of w per batch so that the (w, b, sample) residual block stays near 64 MB
    per = max(1, int(8 * 2**20 // max(1, s * len(x))))
    for i in range(0, s, per):
        w = ws[i:i + per].view(-1, 1, 1)
        residual = w * x.view(1, 1, -1) + bs.view(1, -1, 1) - y.view(1, 1, -1)
        surface[i:i + per] = residual.pow(2).mean(-1)
    k = int(surface.argmin())
    return {"w": ws[k // s].item(), "b": bs[k % s].item(), "surface": surface, "ws": ws, "bs": bs}


def solve(cfg, model, data) -> dict:
    """Fits ``model`` (a LinearRegression) on the training split in place; returns what to record."""
    lin = model.linear
    if cfg.train.solver in LEAST_SQUARES:  # on the raw data: the normalisation is folded into (w, b)
        raw = data.raw("train")
        w, b, method = least_squares(raw.x, raw.y)
        w, b = fold_standardisation(w, b, data.preprocess, raw.x.shape[1:])
        extra = {"meta": {"lstsq_method": method}}
    else:
        x, y = data.train.x, data.train.y
        if x.flatten(1).shape[1] != 1 or y.reshape(len(y), -1).shape[1] != 1:
            raise UserError(f"train.solver: 'grid' searches (w, b) for one feature; the data has "
                            f"{x.flatten(1).shape[1]} features: use 'least_squares' or 'gd'")
        grid = cfg.train.grid  # its size against train.grid.max_memory_mb is checked when the config loads
        g = grid_search(x, y, grid.w_min, grid.w_max, grid.b_min, grid.b_max, grid.steps)
        w, b = torch.tensor([[g["w"]]]), torch.tensor([g["b"]])
        edge = [name for name, v, lo, hi in (("w", g["w"], cfg.train.grid.w_min, cfg.train.grid.w_max),
                                             ("b", g["b"], cfg.train.grid.b_min, cfg.train.grid.b_max)) if v in (lo, hi)]
        extra = {"surface": {"loss": g["surface"], "w": g["ws"], "b": g["bs"]},
                 "meta": {"grid_best": {"w": g["w"], "b": g["b"], "at_edge": edge}}}
    with torch.no_grad():
        lin.weight.copy_(w.to(lin.weight.dtype))
        lin.bias.copy_(b.to(lin.bias.dtype))
    return extra
