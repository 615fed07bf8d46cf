"""dlnotes against hand-written PyTorch loops on equal work, and training beside busy processes.

    python scripts/bench.py [--cases lenet_digits,mlp_mnist1d,gru_mnist1d,logreg_mnist1d]
                            [--repeats 5] [--device cpu] [--threads N|auto] [--json-out bench.json]
    python scripts/bench.py --busy [--cases lenet_digits,table_mlp,gru_mnist1d] [--settings auto,2]
                            [--repeats 3] [--json-out busy.json]

Equal work (the default). For each case it runs `dlnotes train --config configs/<case>.yaml` (with
overrides that make it the same job as the reference: same model, data, batch size, optimizer and
epochs, no validation split, no augmentation or schedule) and `scripts/handwritten.py <case> --out DIR`
as separate whole processes, alternating which goes first, and reports the median wall time of each,
their ratio, the training time each reports, samples/s and the test accuracy both reach. Both sides
do the same work after training: the hand-written script saves its weights (safetensors) and draws
the same three figures with matplotlib's defaults (learning curves, confusion matrix, the 25
highest-loss test examples as pictures or curves), as dlnotes does (it also writes its small JSON/CSV files and checkpoints). Both run
with the same number of intra-op threads, OMP_NUM_THREADS=--threads (default: every CPU this process
may use, torch's own default), so the ratio measures the framework, not the thread policy;
`--threads auto` leaves the variable unset (dlnotes then chooses, the hand script takes torch's default).

Busy machine (`--busy`). Each case runs alone, beside one and beside two CPU-bound processes
(`python -c "while True: pass"`), for each `train.threads` setting in --settings, the loads and the
settings alternating in order between repeats; OMP_NUM_THREADS and MKL_NUM_THREADS are removed from
the children's environment, so the setting decides. Cases: LeNet on digits (configs/lenet_digits.yaml,
10 epochs), an MLP on a generated 50,000-row table (the quick start `dlnotes train --data table.csv
--target y`, 10 epochs) and the MNIST-1D GRU (configs/gru_mnist1d.yaml, 10 epochs). Reports the median
whole-process wall time of each, the slowdown beside one and two busy processes, and the threads
meta.json recorded at the start. Prints a table, then one JSON line (both modes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

# case -> (epochs, overrides that turn the shipped config into the reference's job)
CASES = {
    "lenet_digits": (20, ["data.augment=false", "train.scheduler.name=none", "train.optimizer.lr=0.001"]),
    "mlp_mnist1d": (150, ["train.scheduler.name=none"]),
    "gru_mnist1d": (30, ["train.scheduler.name=none", "train.optimizer.lr=0.01"]),
    "logreg_mnist1d": (150, []),
}
TRAIN_SIZES = {"lenet_digits": 1437, "mlp_mnist1d": 4000, "gru_mnist1d": 4000, "logreg_mnist1d": 4000}
BUSY_CASES = {  # case -> the arguments of `dlnotes train` ({table}: the generated table)
    "lenet_digits": ["--config", "configs/lenet_digits.yaml", "train.epochs=10"],
    "table_mlp": ["--data", "{table}", "--target", "y", "train.epochs=10"],
    "gru_mnist1d": ["--config", "configs/gru_mnist1d.yaml", "train.epochs=10"],
}


def _run(cmd: list[str], threads: str | None = None) -> tuple[float, str]:
    """Runs one whole process; ``threads``: OMP_NUM_THREADS and MKL_NUM_THREADS for it (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update({"MPLBACKEND": "Agg", **({var: threads for var in THREAD_VARS} if threads else {})})
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"benchmark command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return wall, p.stdout


def dlnotes_once(case: str, epochs: int, overrides: list[str], device: str, threads: str | None, tmp: Path) -> dict:
    out = tmp / f"{case}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "dlnotes", "train", "--config", f"configs/{case}.yaml", "--out", str(out),
           "--quiet", "--device", device, f"train.epochs={epochs}", "data.val_fraction=0", *overrides]
    wall, _ = _run(cmd, threads)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall": wall, "train_seconds": metrics["train_seconds"], "accuracy": metrics["accuracy"]}


def hand_once(case: str, epochs: int, device: str, threads: str | None, tmp: Path) -> dict:
    cmd = [sys.executable, "scripts/handwritten.py", case, "--epochs", str(epochs), "--device", device,
           "--out", str(tmp / f"hand-{case}-{time.monotonic_ns()}")]
    wall, stdout = _run(cmd, threads)
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"wall": wall, "train_seconds": result["train_seconds"], "accuracy": result["accuracy"]}


def _med(runs: list[dict], key: str) -> float:
    return statistics.median(x[key] for x in runs)


def equal_work(args, tmp: Path) -> list[dict]:
    threads = None if args.threads == "auto" else str(args.threads or len(os.sched_getaffinity(0)))
    rows = []
    for case in args.cases:
        epochs, overrides = CASES[case]
        ours, ref = [], []
        for r in range(args.repeats):  # alternate who goes first so drift (thermal, caches) cancels out
            pair = [lambda: ours.append(dlnotes_once(case, epochs, overrides, args.device, threads, tmp)),
                    lambda: ref.append(hand_once(case, epochs, args.device, threads, tmp))]
            for run in (pair if r % 2 == 0 else pair[::-1]):
                run()
        samples = TRAIN_SIZES[case] * epochs
        rows.append({
            "case": case, "epochs": epochs, "repeats": args.repeats, "threads": threads or "auto",
            "dlnotes_wall_s": round(_med(ours, "wall"), 3), "handwritten_wall_s": round(_med(ref, "wall"), 3),
            "ratio": round(_med(ours, "wall") / _med(ref, "wall"), 3),
            "dlnotes_train_s": round(_med(ours, "train_seconds"), 3),
            "handwritten_train_s": round(_med(ref, "train_seconds"), 3),
            "dlnotes_samples_per_s": round(samples / _med(ours, "train_seconds")),
            "handwritten_samples_per_s": round(samples / _med(ref, "train_seconds")),
            "dlnotes_accuracy": round(_med(ours, "accuracy"), 4),
            "handwritten_accuracy": round(_med(ref, "accuracy"), 4),
            "dlnotes_walls": [round(x["wall"], 2) for x in ours],
            "handwritten_walls": [round(x["wall"], 2) for x in ref],
            "dlnotes_train_all": [round(x["train_seconds"], 2) for x in ours],
            "handwritten_train_all": [round(x["train_seconds"], 2) for x in ref],
        })
        print(f"  {case}: done", file=sys.stderr, flush=True)
    header = ["case", "epochs", "threads", "dlnotes wall s", "hand wall s", "ratio", "dlnotes train s", "hand train s",
              "dlnotes acc", "hand acc"]
    keys = ["case", "epochs", "threads", "dlnotes_wall_s", "handwritten_wall_s", "ratio", "dlnotes_train_s",
            "handwritten_train_s", "dlnotes_accuracy", "handwritten_accuracy"]
    _table(header, keys, rows)
    for row in rows:  # every run, in order: the spread says how far to trust the medians
        print(f"{row['case']}: dlnotes walls {row['dlnotes_walls']} (train {row['dlnotes_train_all']}); "
              f"hand walls {row['handwritten_walls']} (train {row['handwritten_train_all']})")
    return rows


def make_table(path: Path, rows: int = 50_000, seed: int = 0) -> Path:
    """A classification table: 10 numbers, one 5-level category, a 3-class target from both."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 10)).round(4)
    colour = rng.choice(list("abcde"), size=rows)
    score = x[:, 0] * x[:, 1] + np.sin(x[:, 2]) + (colour == "c") - 0.5 * x[:, 3] ** 2
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    with path.open("w") as f:
        f.write(",".join([f"x{j}" for j in range(10)] + ["colour", "y"]) + "\n")
        for r in range(rows):
            f.write(",".join(map(str, x[r])) + f",{colour[r]},{y[r]}\n")
    return path


@contextlib.contextmanager
def busy(n: int):
    """``n`` CPU-bound processes for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.3 if n else 0)  # started and spinning
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def busy_once(case: str, setting: str, load: int, table: Path, tmp: Path) -> dict:
    out = tmp / f"busy-{case}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "dlnotes", "train", *[a.format(table=table) for a in BUSY_CASES[case]],
           "--out", str(out), "--quiet", "--device", "cpu", f"train.threads={setting}"]
    with busy(load):
        wall, _ = _run(cmd)
    metrics = json.loads((out / "metrics.json").read_text())
    threads = json.loads((out / "meta.json").read_text()).get("threads", {}).get("threads")
    return {"wall": wall, "train_seconds": metrics["train_seconds"], "threads": threads}


def busy_machine(args, tmp: Path) -> list[dict]:
    table = make_table(tmp / "table.csv") if "table_mlp" in args.cases else tmp / "table.csv"
    rows = []
    for case in args.cases:
        runs = {(s, n): [] for s in args.settings for n in (0, 1, 2)}
        for r in range(args.repeats):
            order = [(s, n) for s in args.settings for n in (0, 1, 2)]
            for s, n in (order if r % 2 == 0 else order[::-1]):
                runs[s, n].append(busy_once(case, s, n, table, tmp))
        for s in args.settings:
            alone = _med(runs[s, 0], "wall")
            row = {"case": case, "setting": s, "repeats": args.repeats}
            for n in (0, 1, 2):
                row[f"wall_s_{n}"] = round(_med(runs[s, n], "wall"), 3)
                row[f"train_s_{n}"] = round(_med(runs[s, n], "train_seconds"), 3)
                row[f"ratio_{n}"] = round(_med(runs[s, n], "wall") / alone, 3)
                row[f"threads_{n}"] = sorted({x["threads"] for x in runs[s, n]}, key=str)
                row[f"walls_{n}"] = [round(x["wall"], 2) for x in runs[s, n]]
            rows.append(row)
        print(f"  {case}: done", file=sys.stderr, flush=True)
    header = ["case", "train.threads", "alone s", "beside 1 s", "beside 2 s", "x alone (1)", "x alone (2)",
              "threads alone/1/2"]
    for row in rows:
        row["threads"] = "/".join(",".join(map(str, row[f"threads_{n}"])) for n in (0, 1, 2))
    _table(header, ["case", "setting", "wall_s_0", "wall_s_1", "wall_s_2", "ratio_1", "ratio_2", "threads"], rows)
    for row in rows:
        print(f"{row['case']} threads={row['setting']}: walls alone {row['walls_0']}, beside one {row['walls_1']}, "
              f"beside two {row['walls_2']}")
    return rows


def _table(header: list[str], keys: list[str], rows: list[dict]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--busy", action="store_true", help="alone and beside one and two CPU-bound processes")
    ap.add_argument("--cases", default=None)
    ap.add_argument("--repeats", type=int, default=None, help="default 5 (equal work) or 3 (--busy)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", default=None, help="equal work: OMP_NUM_THREADS of both sides, or auto")
    ap.add_argument("--settings", default="auto", help="--busy: train.threads settings to compare, e.g. auto,2")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds `busy`: no spinning process is left behind
    known = BUSY_CASES if args.busy else CASES
    args.cases = [c.strip() for c in (args.cases or ",".join(known)).split(",") if c.strip()]
    args.settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    args.repeats = args.repeats or (3 if args.busy else 5)
    unknown = [c for c in args.cases if c not in known]
    if unknown:
        sys.exit(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    tmp = Path(tempfile.mkdtemp(prefix="dlnotes-bench-"))
    load_before = os.getloadavg()
    rows = busy_machine(args, tmp) if args.busy else equal_work(args, tmp)

    import torch

    machine = {"python": platform.python_version(), "torch": torch.__version__, "device": args.device,
               "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
               "processor": platform.processor() or platform.machine(),
               "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
               "loadavg_before": [round(v, 2) for v in load_before],
               "loadavg_after": [round(v, 2) for v in os.getloadavg()]}
    result = {"bench": "busy" if args.busy else "equal_work", "machine": machine, "results": rows}
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
