"""Benchmark of ``dlnotes serve`` on an image classifier: requests/s and latency, beside ``dlnotes predict``.

    python scripts/bench_serve.py [--run RUN] [--requests 300] [--concurrency 1,8] [--batch 32] [--device cpu]
                                  [--serve-only]

1. The run: ``--run`` (an image classifier), or a LeNet trained for one epoch on the 28x28 digits of
   configs/lenet_digits.yaml into a temporary folder (a few seconds; accuracy does not matter here).
2. 64 drawings like the page sends: 280x280 white PNGs with a black stroke (a few kB each).
3. The server: ``python -m dlnotes serve --run RUN --port 0`` (a process of its own, as users start it),
   after a warm-up of 20 requests. Single requests (one image each) and batched requests (``--batch``
   images each), sent by ``--concurrency`` client threads with persistent connections: requests/s,
   images/s, p50 and p99 latency.
4. ``dlnotes predict`` on the same images: the whole command (a new process: imports, loading the run,
   reading, predicting) on one image and on all 64, median of 3; its per-image cost is the difference
   over 63 images, and in-process ``Run.predict`` on the folder of 64 (median of 5) is printed too.

The load average is printed before and after: on a shared machine every number here moves with it.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def drawings(folder: Path, n: int = 64) -> list[Path]:
    """``n`` 280x280 PNGs of a black stroke on white, each a little different (as drawn on the page)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        img = Image.new("RGB", (280, 280), "white")
        points = [tuple(int(v) for v in rng.integers(40, 240, 2)) for _ in range(4)]
        ImageDraw.Draw(img).line(points, fill="black", width=22, joint="curve")
        files.append(folder / f"{i:03d}.png")
        img.save(files[-1])
    return files


def trained_run(out: Path) -> Path:
    """A one-epoch LeNet on configs/lenet_digits.yaml (28x28 digits) in ``out``."""
    from dlnotes.config import load_config
    from dlnotes.run import train

    cfg = load_config(ROOT / "configs" / "lenet_digits.yaml", ["train.epochs=1", "device=cpu"])
    return train(cfg, out=out, quiet=True).path


def start(run: Path, device: str, log: Path) -> tuple[subprocess.Popen, str, int]:
    """``dlnotes serve`` on ``run`` and a free port: (process, host, port) once /health answers."""
    with open(log, "w") as out:  # the server keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "dlnotes", "serve", "--run", str(run), "--port", "0",
                                 "--device", device], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    for _ in range(1200):
        found = re.search(r" at http://([\d.]+):(\d+)/ ", log.read_text())
        if found:
            return proc, found.group(1), int(found.group(2))
        if proc.poll() is not None:
            sys.exit(f"the server stopped:\n{log.read_text()}")
        time.sleep(0.1)
    proc.kill()
    sys.exit("the server did not start in 120 s")


def load(host: str, port: int, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """(seconds for all, each request's latency): ``bodies`` POSTed by ``concurrency`` threads, each with its
    own persistent connection; every answer must be a 200."""
    latencies: list[float] = []
    lock, todo = threading.Lock(), list(reversed(bodies))
    failures: list[str] = []

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=300)
        while True:
            with lock:
                if not todo:
                    break
                body = todo.pop()
            t0 = time.perf_counter()
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            took = time.perf_counter() - t0
            with lock:
                latencies.append(took)
                if response.status != 200:
                    failures.append(data.decode()[:200])
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - t0
    if failures:
        sys.exit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return total, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def serve_rows(host: str, port: int, files: list[Path], args) -> list[dict]:
    images = [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files]
    single = [json.dumps({"inputs": [images[i % len(images)]]}).encode() for i in range(args.requests)]
    batched = [json.dumps({"inputs": [images[(i * args.batch + j) % len(images)] for j in range(args.batch)]}).encode()
               for i in range(max(args.requests // args.batch * 2, 10))]
    load(host, port, single[:20], 1)  # warm-up
    rows = []
    for name, bodies, per in (("single", single, 1), (f"batch of {args.batch}", batched, args.batch)):
        for c in args.concurrency:
            total, lat = load(host, port, bodies, c)
            rows.append({"requests": name, "concurrency": c, "n": len(bodies), "requests_per_s": len(bodies) / total,
                         "images_per_s": len(bodies) * per / total, "p50_ms": 1000 * percentile(lat, 50),
                         "p99_ms": 1000 * percentile(lat, 99)})
    return rows


def predict_costs(run: Path, files: list[Path], device: str) -> dict:
    """The whole ``dlnotes predict`` command on one image and on the folder; in-process Run.predict on the folder."""
    def command(given: Path) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dlnotes", "predict", "--run", str(run), "--input", str(given),
                            "--device", device], cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    one, many = command(files[0]), command(files[0].parent)
    from dlnotes.trained import Run

    loaded = Run.load(run, device=device)
    loaded.predict(files[0].parent)
    in_process = []
    for _ in range(5):
        t0 = time.perf_counter()
        loaded.predict(files[0].parent)
        in_process.append(time.perf_counter() - t0)
    n = len(files)
    return {"command_one_s": one, "command_all_s": many, "images": n,
            "command_per_image_ms": 1000 * (many - one) / (n - 1),
            "run_predict_per_image_ms": 1000 * statistics.median(in_process) / n}


def report(rows: list[dict], costs: dict | None, loads: tuple, run: Path) -> None:
    print(f"dlnotes serve on {run.name} (load average {loads[0]:.1f} before, {loads[1]:.1f} after; "
          f"{os.cpu_count()} cores)")
    print(f"{'requests':<14}{'clients':>8}{'n':>6}{'req/s':>9}{'images/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for r in rows:
        print(f"{r['requests']:<14}{r['concurrency']:>8}{r['n']:>6}{r['requests_per_s']:>9.1f}"
              f"{r['images_per_s']:>10.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}")
    if costs is not None:
        print(f"dlnotes predict, whole command: {costs['command_one_s']:.2f} s for 1 image, {costs['command_all_s']:.2f} "
              f"s for {costs['images']}: {costs['command_per_image_ms']:.1f} ms per image beyond the first; "
              f"Run.predict in process: {costs['run_predict_per_image_ms']:.1f} ms per image")
    print(json.dumps({"serve": rows, "predict": costs, "load_average": loads}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, help="an image classifier's run [default: train a one-epoch LeNet]")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--concurrency", type=lambda s: [int(v) for v in s.split(",")], default=[1, 8])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--serve-only", action="store_true", help="skip the dlnotes predict measurements")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run or trained_run(tmp / "lenet_digits")
        files = drawings(tmp / "drawings")
        before = os.getloadavg()[0]
        proc, host, port = start(run, args.device, tmp / "server.log")
        try:
            rows = serve_rows(host, port, files, args)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        costs = None if args.serve_only else predict_costs(run, files, args.device)
        report(rows, costs, (before, os.getloadavg()[0]), run)


if __name__ == "__main__":
    main()
