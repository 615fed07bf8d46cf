"""Regression solvers against scikit-learn, in one run: fit time, coefficients, test metrics.

    python scripts/bench_regression.py [--rows 1000000 --features 100]

Prints a table and one JSON line. The large case times the whole `dlnotes train` process (start-up,
data generation, split, normal equations, test) against scikit-learn's LinearRegression.fit alone
on the same data (float64, as a user's numpy data usually is).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    args = ap.parse_args()
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.preprocessing import StandardScaler

    from dlnotes.config import validate
    from dlnotes.run import train

    rows = []
    tmp = Path(tempfile.mkdtemp())
    base = {"seed": 0, "data": {"name": "diabetes", "val_fraction": 0.0, "batch_size": 512},
            "model": {"name": "linear_regression"}}
    for solver, train_cfg in (("lstsq", {"solver": "lstsq"}),
                              ("gd (manual)", {"solver": "gd", "gradient": "manual", "epochs": 300,
                                               "optimizer": {"name": "sgd", "lr": 0.1}, "loss": "mse"})):
        run, sec = timed(lambda: train(validate({**base, "train": train_cfg}), out=tmp / solver.split()[0]))
        rows.append(("diabetes", f"dlnotes {solver}", sec, run.metrics["r2"], "r2"))
    d = run.data
    raw = train(validate({**base, "data": {**base["data"], "standardize": False}, "train": {"solver": "lstsq"}}),
                out=tmp / "raw").data
    sk, sec = timed(lambda: LinearRegression().fit(raw.train.x.numpy(), raw.train.y.numpy()))
    rows.append(("diabetes", "sklearn LinearRegression", sec, r2_score(raw.test.y.numpy(), sk.predict(raw.test.x.numpy())), "r2"))

    cfg = validate({"seed": 0, "data": {"name": "breast_cancer", "val_fraction": 0.0, "batch_size": 32},
                    "model": {"name": "logistic_regression"},
                    "train": {"epochs": 100, "loss": "bce", "optimizer": {"name": "sgd", "lr": 0.05, "weight_decay": 0.002}}})
    run, sec = timed(lambda: train(cfg, out=tmp / "logreg"))
    rows.append(("breast_cancer", "dlnotes logistic_regression (sgd)", sec, run.metrics["accuracy"], "accuracy"))
    raw = train(validate({"seed": 0, "data": {"name": "breast_cancer", "val_fraction": 0.0, "standardize": False},
                          "model": {"name": "logistic_regression"}, "train": {"epochs": 1}}), out=tmp / "raw2").data
    sc = StandardScaler().fit(raw.train.x.numpy())
    sk, sec = timed(lambda: LogisticRegression(max_iter=5000).fit(sc.transform(raw.train.x.numpy()), raw.train.y.numpy()))
    rows.append(("breast_cancer", "sklearn LogisticRegression", sec,
                 accuracy_score(raw.test.y.numpy(), sk.predict(sc.transform(raw.test.x.numpy()))), "accuracy"))

    # the large case: whole dlnotes process vs sklearn's fit alone
    n, f = args.rows, args.features
    cmd = [sys.executable, "-m", "dlnotes", "train", "-q", "--config", str(ROOT / "configs/linreg_synthetic_grid.yaml"),
           "--out", str(tmp / "big"), "train.solver=lstsq", f"data.n_samples={n}", f"data.n_features={f}"]
    _, whole = timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
    big = json.loads((tmp / "big/metrics.json").read_text())
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.empty(n, f).uniform_(-5, 5, generator=g)
    y = torch.randn(n, 1, generator=g).add_(x.sum(1, keepdim=True), alpha=3.0).add_(2.0)
    xd, yd = x.numpy().astype(np.float64), y.numpy().ravel().astype(np.float64)
    del x, y
    _, sk_sec = timed(lambda: LinearRegression().fit(xd, yd))
    rows.append((f"synthetic {n}x{f}", "dlnotes train (whole process)", whole, big["r2"], "r2"))
    rows.append((f"synthetic {n}x{f}", "sklearn LinearRegression.fit", sk_sec, float("nan"), "r2"))

    print(f"{'data':<24} {'method':<36} {'seconds':>9} {'metric':>10}")
    for data, method, sec, metric, name in rows:
        print(f"{data:<24} {method:<36} {sec:9.3f} {name}={metric:.6f}")
    print(f"speed-up of the whole dlnotes process over sklearn's fit: {sk_sec / whole:.2f}x")
    print(json.dumps({"rows": [dict(zip(("data", "method", "seconds", "metric_value", "metric"), r)) for r in rows],
                      "large_speedup": sk_sec / whole}))


if __name__ == "__main__":
    main()
