"""Where a second intra-op thread starts to pay: the time of one training step by thread count,
against the forward FLOPs that ``train.threads: auto`` divides by WORK_PER_THREAD (dlnotes/engine/threads.py).

    python scripts/bench_threads.py [--threads 1,2] [--seconds 0.6] [--repeats 3]

For models of the zoo at several sizes (LeNet on 28x28 and 16x16 images at batch 16 to 256, the
quick start's MLP on a 15-column table and a wide one on 784 inputs, the MNIST-1D GRU at hidden size
6 and 64), one process times forward, loss, backward and an Adam step on random data, each thread count
in turn (alternating order, --repeats rounds), and reports the 10th percentile of single steps (robust
to the steps another process interrupts; still, run it on a quiet machine). Prints a table with the
threads ``auto`` would choose from the work alone, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlnotes.engine.flops import forward_flops  # noqa: E402
from dlnotes.engine.threads import work_threads  # noqa: E402
from dlnotes.models import build_model  # noqa: E402

LENET = {"num_classes": 10, "in_channels": 1}
GRU = {"num_classes": 10, "input_size": 1, "seq_len": 40, "bidirectional": True, "head": "flatten"}
CASES = {  # name -> (model, constructor arguments, input shape)
    "lenet 28x28 b16": ("lenet", {**LENET, "image_size": 28}, (16, 1, 28, 28)),
    "lenet 28x28 b32": ("lenet", {**LENET, "image_size": 28}, (32, 1, 28, 28)),
    "lenet 28x28 b64": ("lenet", {**LENET, "image_size": 28}, (64, 1, 28, 28)),
    "lenet 28x28 b256": ("lenet", {**LENET, "image_size": 28}, (256, 1, 28, 28)),
    "lenet 16x16 b64": ("lenet", {**LENET, "image_size": 16}, (64, 1, 16, 16)),
    "mlp 15 in b64": ("mlp", {"num_classes": 3, "in_features": 15}, (64, 15)),
    "mlp 15 in b512": ("mlp", {"num_classes": 3, "in_features": 15}, (512, 15)),
    "mlp 784 in b64": ("mlp", {"num_classes": 10, "in_features": 784}, (64, 784)),
    "mlp 784 in b256": ("mlp", {"num_classes": 10, "in_features": 784}, (256, 784)),
    "gru h6 b100": ("gru", {**GRU, "hidden_size": 6}, (100, 40, 1)),
    "gru h64 b100": ("gru", {**GRU, "hidden_size": 64}, (100, 40, 1)),
}


def step_time(model, x, y, opt, seconds: float) -> float:
    """The 10th percentile of single training steps over ``seconds``."""
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 10]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=0.6)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    rows = []
    for name, (model_name, kwargs, shape) in CASES.items():
        torch.manual_seed(0)
        model = build_model(model_name, kwargs)
        x, y = torch.randn(shape), torch.randint(0, kwargs["num_classes"], (shape[0],))
        flops = forward_flops(model, x, shape[0])
        opt = torch.optim.Adam(model.parameters())
        times = {k: [] for k in counts}
        for r in range(args.repeats):
            for k in (counts if r % 2 == 0 else counts[::-1]):
                torch.set_num_threads(k)
                step_time(model, x, y, opt, 0.1)  # warm up this count
                times[k].append(step_time(model, x, y, opt, args.seconds))
        ms = {k: round(1e3 * statistics.median(v), 3) for k, v in times.items()}
        best = min(ms, key=ms.get)
        rows.append({"case": name, "forward_mflop": round(flops / 1e6, 2), "step_ms": ms, "fastest": best,
                     "auto_work_threads": work_threads(flops)})
        print(f"  {name}: done", file=sys.stderr, flush=True)
    print("| case | forward MFLOP | " + " | ".join(f"{k} thread(s) ms" for k in counts) + " | fastest | auto (work) |")
    print("|" + "---|" * (len(counts) + 4))
    for row in rows:
        print(f"| {row['case']} | {row['forward_mflop']} | " + " | ".join(str(row["step_ms"][k]) for k in counts)
              + f" | {row['fastest']} | {row['auto_work_threads']} |")

    print(json.dumps({"bench": "threads", "loadavg": [round(v, 2) for v in os.getloadavg()], "results": rows}))


if __name__ == "__main__":
    main()
