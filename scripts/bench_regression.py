"""Regression solvers against scikit-learn, in one run: fit time, coefficients, test metrics.

    python scripts/bench_regression.py [--rows 1000000 --features 100] [--repeats 3] [--large-only]

Prints a table and one JSON line. The large case (synthetic_linear, solver lstsq, standardised) runs
two whole processes, alternating, `--repeats` times each, and reports medians:
- `dlnotes train` (start-up, data generation, split, statistics, normal equations, test, figures);
- a scikit-learn process: imports, the same data (the same PCG64 streams as synthetic_linear, then
  float64, as a user's numpy data usually is), the same split, StandardScaler-free
  `LinearRegression().fit`, test r2. Its fit time alone is reported too.
The two test r2 values must agree: the same rows, the same least-squares problem.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


SKLEARN_CHILD = r"""
import json, sys, time
import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

n, f, block = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
x = np.empty((n, f), np.float32); y = np.empty((n, 1), np.float32)
streams = np.random.SeedSequence(0).spawn(-(-n // block))
for k, ss in enumerate(streams):  # synthetic_linear's recipe: w=3, b=2, noise 1, x uniform in [-5, 5]
    g = np.random.Generator(np.random.PCG64(ss))
    xb, yb = x[k * block:(k + 1) * block], y[k * block:(k + 1) * block]
    g.random(out=xb, dtype=np.float32); xb *= np.float32(10); xb += np.float32(-5)
    g.standard_normal(out=yb, dtype=np.float32); yb *= np.float32(1.0)
    yb += np.float32(3.0) * xb.sum(1, keepdims=True) + np.float32(2.0)
perm = np.random.default_rng(0).permutation(n)  # dlnotes' split_indices(n, 0.2, seed=0)
k = int(round(n * 0.2))
test, train = np.sort(perm[:k]), np.sort(perm[k:])
xd, yd = x.astype(np.float64), y.ravel().astype(np.float64)
t = time.perf_counter()
model = LinearRegression().fit(xd[train], yd[train])
fit = time.perf_counter() - t
print(json.dumps({"fit_seconds": fit, "r2": r2_score(yd[test], model.predict(xd[test]))}))
"""


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def child_cpu(fn):
    """(result, wall s, CPU s of the child processes fn ran): CPU time says less about a busy machine's load."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, wall = timed(fn)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--large-only", action="store_true", help="skip the small diabetes/breast_cancer rows")
    args = ap.parse_args()
    rows = []
    tmp = Path(tempfile.mkdtemp())
    if args.large_only:
        return large_case(args, tmp, rows)
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.preprocessing import StandardScaler

    from dlnotes.config import validate
    from dlnotes.run import train

    base = {"seed": 0, "data": {"name": "diabetes", "val_fraction": 0.0, "batch_size": 512},
            "model": {"name": "linear_regression"}}
    for solver, train_cfg in (("lstsq", {"solver": "lstsq"}),
                              ("gd (manual)", {"solver": "gd", "gradient": "manual", "epochs": 300,
                                               "optimizer": {"name": "sgd", "lr": 0.1}, "loss": "mse"})):
        run, sec = timed(lambda: train(validate({**base, "train": train_cfg}), out=tmp / solver.split()[0]))
        rows.append(("diabetes", f"dlnotes {solver}", sec, run.metrics["r2"], "r2"))
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

    large_case(args, tmp, rows)


def large_case(args, tmp: Path, rows: list) -> None:
    """Whole dlnotes process against a whole scikit-learn process, alternating, medians."""
    import statistics

    from dlnotes.data.synthetic import BLOCK_ROWS

    n, f = args.rows, args.features
    ours, theirs = [], []
    for r in range(args.repeats):
        def dl():
            out = tmp / f"big{r}"
            cmd = [sys.executable, "-m", "dlnotes", "train", "-q", "--config",
                   str(ROOT / "configs/linreg_synthetic_grid.yaml"), "--out", str(out), "train.solver=lstsq",
                   "data.standardize=true", f"data.n_samples={n}", f"data.n_features={f}"]
            _, sec, cpu = child_cpu(lambda: subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT))
            ours.append((sec, json.loads((out / "metrics.json").read_text())["r2"], cpu))

        def sk():
            cmd = [sys.executable, "-c", SKLEARN_CHILD, str(n), str(f), str(BLOCK_ROWS)]
            p, sec, cpu = child_cpu(lambda: subprocess.run(cmd, check=True, capture_output=True, text=True))
            res = json.loads(p.stdout.strip().splitlines()[-1])
            theirs.append((sec, res["fit_seconds"], res["r2"], cpu))

        for job in ((dl, sk) if r % 2 == 0 else (sk, dl)):  # alternate who goes first
            job()
    whole = statistics.median(o[0] for o in ours)
    sk_whole = statistics.median(t[0] for t in theirs)
    sk_fit = statistics.median(t[1] for t in theirs)
    cpu_ours, cpu_sk = statistics.median(o[2] for o in ours), statistics.median(t[3] for t in theirs)
    r2_ours, r2_sk = ours[0][1], theirs[0][2]
    label = f"synthetic {n}x{f}"
    rows.append((label, "dlnotes train lstsq (whole process)", whole, r2_ours, "r2"))
    rows.append((label, "sklearn process (import, data, fit, test)", sk_whole, r2_sk, "r2"))
    rows.append((label, "sklearn LinearRegression.fit alone", sk_fit, r2_sk, "r2"))

    print(f"{'data':<24} {'method':<44} {'seconds':>9} {'metric':>10}")
    for data, method, sec, metric, name in rows:
        print(f"{data:<24} {method:<44} {sec:9.3f} {name}={metric:.6f}")
    print(f"large case, medians of {args.repeats}: sklearn process / dlnotes process = {sk_whole / whole:.2f}x; "
          f"sklearn fit alone / dlnotes process = {sk_fit / whole:.2f}x; |r2 difference| = {abs(r2_ours - r2_sk):.2e}")
    print(f"CPU seconds (user + sys, medians): dlnotes {cpu_ours:.2f}, sklearn process {cpu_sk:.2f} "
          f"({cpu_sk / cpu_ours:.2f}x); all walls: dlnotes {[round(o[0], 2) for o in ours]}, "
          f"sklearn {[round(t[0], 2) for t in theirs]}")
    print(json.dumps({"rows": [dict(zip(("data", "method", "seconds", "metric_value", "metric"), r)) for r in rows],
                      "repeats": args.repeats, "dlnotes_whole_s": whole, "sklearn_whole_s": sk_whole,
                      "sklearn_fit_s": sk_fit, "speedup_vs_sklearn_process": sk_whole / whole,
                      "speedup_vs_sklearn_fit": sk_fit / whole, "dlnotes_cpu_s": cpu_ours, "sklearn_cpu_s": cpu_sk,
                      "r2_dlnotes": r2_ours, "r2_sklearn": r2_sk}))


if __name__ == "__main__":
    main()
