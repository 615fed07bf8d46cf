"""dlnotes against hand-written PyTorch loops, whole process, alternating, in one run.

    python scripts/bench.py [--cases lenet_digits,mlp_mnist1d,gru_mnist1d,logreg_mnist1d]
                            [--repeats 3] [--device cpu] [--json-out bench.json]

For each case it runs `dlnotes train --config configs/<case>.yaml` (with overrides that make it the
same job as the reference: same model, data, batch size, optimizer and epochs, no validation split,
no augmentation or schedule) and `scripts/handwritten.py <case>` as separate processes, alternating
which goes first, and reports the median wall time of each, their ratio, the training time each
reports, samples/s and the test accuracy both reach. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# case -> (epochs, overrides that turn the shipped config into the reference's job)
CASES = {
    "lenet_digits": (20, ["data.augment=false", "train.scheduler.name=none", "train.optimizer.lr=0.001"]),
    "mlp_mnist1d": (150, ["train.scheduler.name=none"]),
    "gru_mnist1d": (30, []),
    "logreg_mnist1d": (150, []),
}
TRAIN_SIZES = {"lenet_digits": 1437, "mlp_mnist1d": 4000, "gru_mnist1d": 4000, "logreg_mnist1d": 4000}


def _run(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"benchmark command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return wall, p.stdout


def dlnotes_once(case: str, epochs: int, overrides: list[str], device: str, tmp: Path) -> dict:
    out = tmp / f"{case}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "dlnotes", "train", "--config", f"configs/{case}.yaml", "--out", str(out),
           "--quiet", "--device", device, f"train.epochs={epochs}", "data.val_fraction=0", *overrides]
    wall, _ = _run(cmd)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall": wall, "train_seconds": metrics["train_seconds"], "accuracy": metrics["accuracy"]}


def hand_once(case: str, epochs: int, device: str, tmp: Path) -> dict:
    cmd = [sys.executable, "scripts/handwritten.py", case, "--epochs", str(epochs), "--device", device,
           "--out", str(tmp / f"{case}.pt")]
    wall, stdout = _run(cmd)
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"wall": wall, "train_seconds": result["train_seconds"], "accuracy": result["accuracy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    tmp = Path(tempfile.mkdtemp(prefix="dlnotes-bench-"))
    rows = []
    for case in cases:
        epochs, overrides = CASES[case]
        ours, ref = [], []
        for r in range(args.repeats):  # alternate who goes first so drift (thermal, caches) cancels out
            pair = [lambda: ours.append(dlnotes_once(case, epochs, overrides, args.device, tmp)),
                    lambda: ref.append(hand_once(case, epochs, args.device, tmp))]
            for run in (pair if r % 2 == 0 else pair[::-1]):
                run()
        med = lambda runs, key: statistics.median(x[key] for x in runs)  # noqa: E731
        samples = TRAIN_SIZES[case] * epochs
        rows.append({
            "case": case, "epochs": epochs, "repeats": args.repeats,
            "dlnotes_wall_s": round(med(ours, "wall"), 3), "handwritten_wall_s": round(med(ref, "wall"), 3),
            "ratio": round(med(ours, "wall") / med(ref, "wall"), 3),
            "dlnotes_train_s": round(med(ours, "train_seconds"), 3),
            "handwritten_train_s": round(med(ref, "train_seconds"), 3),
            "dlnotes_samples_per_s": round(samples / med(ours, "train_seconds")),
            "handwritten_samples_per_s": round(samples / med(ref, "train_seconds")),
            "dlnotes_accuracy": round(med(ours, "accuracy"), 4), "handwritten_accuracy": round(med(ref, "accuracy"), 4),
            "dlnotes_walls": [round(x["wall"], 2) for x in ours], "handwritten_walls": [round(x["wall"], 2) for x in ref],
            "dlnotes_train_all": [round(x["train_seconds"], 2) for x in ours],
            "handwritten_train_all": [round(x["train_seconds"], 2) for x in ref],
        })
        print(f"  {case}: done", file=sys.stderr, flush=True)

    import torch

    machine = {"python": platform.python_version(), "torch": torch.__version__, "device": args.device,
               "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
               "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None}
    header = ["case", "epochs", "dlnotes wall s", "hand wall s", "ratio", "dlnotes train s", "hand train s",
              "dlnotes acc", "hand acc"]
    keys = ["case", "epochs", "dlnotes_wall_s", "handwritten_wall_s", "ratio", "dlnotes_train_s",
            "handwritten_train_s", "dlnotes_accuracy", "handwritten_accuracy"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    for row in rows:  # every run, in order: the spread says how far to trust the medians
        print(f"{row['case']}: dlnotes walls {row['dlnotes_walls']} (train {row['dlnotes_train_all']}); "
              f"hand walls {row['handwritten_walls']} (train {row['handwritten_train_all']})")
    result = {"machine": machine, "results": rows}
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
