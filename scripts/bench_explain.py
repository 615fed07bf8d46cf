"""``dlnotes explain`` on the CPU as a user runs it: the whole process, start-up and figures included.

    python scripts/bench_explain.py [--repeats 3] [--keep DIR]

Trains two runs once (not timed): LeNet on 28x28 digits (1 epoch) and a full-width AlexNet at 224x224
on a 16-image folder of random RGB pictures (1 epoch: the weights' values do not change the work), then
times ``python -m dlnotes explain --device cpu`` on one input of each, ``--repeats`` times, and reports
the median and every run. Also prints the machine's load (1-minute load average and CPUs): on a shared
machine the wall time grows with it, so the user+system CPU time of the process is reported beside it.
Targets (issue 28): LeNet < 3 s, AlexNet at 224 < 15 s. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"lenet": 3.0, "alexnet224": 15.0}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _dlnotes(*args: str, cwd: Path) -> tuple[float, float]:
    """Runs ``python -m dlnotes ARGS``; (wall seconds, user+system CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "dlnotes", *args], cwd=cwd, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"dlnotes {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(work: Path) -> dict[str, tuple[Path, Path]]:
    """The two runs and one input for each: {name: (run, input)}."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    g = np.random.default_rng(0)
    for c in ("a", "b"):
        (work / "pictures" / c).mkdir(parents=True, exist_ok=True)
        for k in range(8):
            Image.fromarray(g.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(work / "pictures" / c / f"{k}.png")
    Image.fromarray(g.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(work / "photo.png")
    digit = load_digits().images[3] * 255 / 16
    Image.fromarray(digit.astype(np.uint8)).resize((64, 64)).save(work / "digit.png")
    runs = {"lenet": (["--config", str(ROOT / "configs/lenet_digits.yaml"), "train.epochs=1"], "digit.png"),
            "alexnet224": (["--config", str(ROOT / "configs/alexnet_digits.yaml"), "data.name=image_folder",
                            f"data.root={work / 'pictures'}", "data.image_size=224", "data.batch_size=8",
                            "data.val_fraction=0", "data.test_fraction=0.25", "model.width=1.0", "train.epochs=1",
                            "train.scheduler.name=none"], "photo.png")}
    out = {}
    for name, (args, source) in runs.items():
        run = work / name
        if not (run / "metrics.json").is_file():
            print(f"training {name} (not timed) ...", file=sys.stderr)
            _dlnotes("train", *args, "--out", str(run), "-q", "--device", "cpu", cwd=work)
        out[name] = (run, work / source)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="Work folder to keep (and reuse its runs).")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="bench_explain-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = prepare(work)
    load_before = os.getloadavg()[0]
    results = {}
    for rep in range(a.repeats):  # the cases alternate, so a burst of load hits both
        for name, (run, source) in runs.items():
            results.setdefault(name, []).append(_dlnotes("explain", "--run", str(run), "--input", str(source),
                                                         "--device", "cpu", cwd=work))
    load = max(load_before, os.getloadavg()[0])
    print(f"{'case':<12} {'median wall s':>14} {'median cpu s':>13} {'target s':>9}  runs (wall)")
    summary = {}
    for name, times in results.items():
        wall, cpu = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        summary[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "target_s": TARGETS[name],
                         "runs_wall_s": [round(t[0], 3) for t in times]}
        print(f"{name:<12} {wall:>14.2f} {cpu:>13.2f} {TARGETS[name]:>9.1f}  "
              + " ".join(f"{t[0]:.2f}" for t in times))
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs (wall time grows with it)")
    print(json.dumps({"bench": "explain", "load_avg_1min": round(load, 2), "cpus": os.cpu_count(), **summary}))


if __name__ == "__main__":
    main()
