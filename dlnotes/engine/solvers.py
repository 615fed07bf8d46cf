"""Closed-form and exhaustive solvers for linear regression (``train.solver: least_squares | grid``).

(``train.solver: gd``, gradient descent, is the training loop of ``dlnotes.engine.trainer``.)

least_squares: setting dL/dw = 0 and dL/db = 0 for L = sum (Xw + b - y)^2 gives the normal equations
    [X 1]^T [X 1] [w; b] = [X 1]^T y.
The two sums are accumulated over row chunks in float64 (memory stays flat for millions of rows) and
solved by Cholesky, falling back to an SVD-based least-squares solve when the matrix is singular or
ill-conditioned (collinear features).

grid_search: the notes' first method: evaluate L(w, b) on every point of a grid and keep the best.
"""

from __future__ import annotations

import torch

from dlnotes.errors import UserError

CHUNK_ROWS = 65536
LEAST_SQUARES = ("least_squares", "lstsq")  # train.solver: the normal equations (lstsq: the old name)


def least_squares(x: torch.Tensor, y: torch.Tensor, chunk: int = CHUNK_ROWS) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Returns (w of shape (outputs, features), b of shape (outputs,), method used)."""
    x = x.flatten(1)
    y = y.reshape(len(y), -1)
    d = x.shape[1]
    a = torch.zeros(d + 1, d + 1, dtype=torch.float64, device=x.device)
    c = torch.zeros(d + 1, y.shape[1], dtype=torch.float64, device=x.device)
    for start in range(0, len(x), chunk):  # the column of ones is implicit: its sums are n and sum(x)
        xc = x[start:start + chunk].double()
        yc = y[start:start + chunk].double()
        a[:d, :d] += xc.T @ xc
        a[:d, d] += xc.sum(0)
        a[d, d] += len(xc)
        c[:d] += xc.T @ yc
        c[d] += yc.sum(0)
    a[d, :d] = a[:d, d]
    chol, info = torch.linalg.cholesky_ex(a)
    method = "cholesky"
    if info.item() == 0:
        sol = torch.cholesky_solve(c, chol)
        # Cholesky succeeds on nearly singular matrices too; check the residual of the normal equations
        if not torch.isfinite(sol).all() or (a @ sol - c).norm() > 1e-8 * max(c.norm().item(), 1.0):
            info = torch.ones(())
    if info.item() != 0:
        method = "lstsq"
        sol = torch.linalg.lstsq(a.cpu(), c.cpu(), driver="gelsd").solution.to(a.device)
    return sol[:-1].T, sol[-1], method


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
    x, y = data.train.x, data.train.y
    if cfg.train.solver in LEAST_SQUARES:
        w, b, method = least_squares(x, y)
        extra = {"meta": {"lstsq_method": method}}
    else:
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
