"""Benchmark of the streaming image loader: images/s against the decode limit, and memory against folder size.

    python scripts/bench_loader.py [--images 3000] [--size 256] [--workers 1,2] [--repeats 3] [--rss-sizes 12,24]

1. Generates a folder of ``--images`` random-content JPEGs (``--size`` square, quality 90) in a temporary
   directory; nothing is downloaded.
2. Decode limit, measured in this run: one process, one thread, does all the per-image work of the
   loader for every file (``--single`` for fewer: a few hundred files time a few tenths of a second, too
   short to be steady): a worker's exact job (``ImageFiles[i]``: read and decode the file with
   ``dlnotes.data.pixels``, the ``krizhevsky`` training view: random 224 crop, flip, the colour-noise
   alphas; then the uint8 batch of 128 stacked, as the default collation does) and the main process's
   job on that batch (``ImageTransform.finish``: to float in fresh memory, PCA colour noise,
   normalisation), which costs the consumer's time. limit(N) = that rate x N workers: the work split
   between N workers and the main process, done at one thread's speed by each of N cores. The two
   parts' rates are printed too.
   ``--compare-resize`` also times a worker's job with the training view resized by Pillow (the kernel
   predict's views use) instead of torch's uint8 kernel (what the loader uses); with ``--size`` above 256
   the view has something to resize.
3. The loader alone: ``dlnotes.data.stream.Loader`` with N workers (batch 128, shuffled, augmented), the
   images/s of a full pass after a warm-up pass (persistent workers), without a model; on CUDA also
   ``decode: cuda`` (nvJPEG, batched) when a GPU is present.
   Steps 2 and 3 are repeated ``--repeats`` times in turn and the medians reported (on this 2-core VM one
   2-worker pass varied from 1,700 to 2,300 images/s between consecutive runs).
4. Memory: ``dlnotes train`` (a small AlexNet at 64x64, 1 epoch, recipe none) with ``data.memory_limit_gb``
   lowered so that the in-memory path would accept ``budget`` images, on folders of k x budget images
   for each k of ``--rss-sizes``; ``stream: auto`` must pick streaming, and the peak memory of the whole
   process tree (trainer + DataLoader workers, summed from /proc/PID/smaps_rollup every 20 ms) must not
   grow with the folder. PSS is the headline (a page the trainer shares with its forked workers counts
   once); the RSS sum, which counts it once per process, is printed beside it and swings by ~10%.
   The folders are hard links to the generated JPEGs (each file used again when a folder is larger).

"fraction" is loader images/s over the limit (wall clock: other processes on the machine lower it);
"CPU efficiency" is the loader's images per CPU second (main process + workers) over the single
thread's, which other processes do not change: 1.0 would be a loader that costs nothing beyond the
per-image work.

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities", category=DeprecationWarning)

from dlnotes.data.pixels import read_pixels  # noqa: E402
from dlnotes.data.stream import ImageFiles, Loader  # noqa: E402
from dlnotes.data.transforms import ImageTransform  # noqa: E402

CLASSES = 4


def make_folder(root: Path, n: int, size: int, seed: int = 0) -> list[Path]:
    """n JPEGs in CLASSES class folders: smooth random colour fields plus noise (compress like photos)."""
    from torchvision.io import encode_jpeg, write_file

    rng = np.random.default_rng(seed)
    files = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    bases = []
    for _ in range(16):
        a = rng.random((3, 3)) * 2 * np.pi
        bases.append(np.stack([127 + 100 * np.sin(a[k, 0] + 6 * xx * a[k, 1] + 4 * yy * a[k, 2]) for k in range(3)]))
    bases = [torch.from_numpy(b.astype(np.int16)) for b in bases]
    for i in range(n):
        c = i % CLASSES
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        shift = [int(v) for v in rng.integers(0, size, 2)]
        noise = torch.from_numpy(rng.integers(-12, 13, (3, size, size), dtype=np.int16))
        t = (bases[i % 16].roll(shift, dims=(1, 2)) + noise).clamp(0, 255).to(torch.uint8)
        path = root / f"class{c}" / f"{i:06d}.jpg"
        write_file(str(path), encode_jpeg(t, quality=90))
        files.append(path)
    return files


def files_of(paths, image_size=224, recipe="krizhevsky", workers=2, decode="cpu", pre=None) -> ImageFiles:
    labels = torch.tensor([int(p.parent.name[5:]) for p in paths])
    f = ImageFiles([str(p) for p in paths], labels, 3, image_size, recipe, workers=workers, decode=decode)
    return f.with_transform(ImageTransform(image_size, recipe, train=True, pre=pre))


def single_thread_rate(paths, pre, count: int) -> dict:
    """Images/s of one thread: decode only; the worker's job (decode + training view + the uint8 batch);
    the main process's job (``finish``); and both, the limit per worker (wall clock and per CPU second)."""
    torch.set_num_threads(1)
    files = files_of(paths[:count], pre=pre)
    fit = files.transform.fit(torch.Generator())
    for i in range(20):  # warm-up: page cache, allocator
        files[(i, 0)]
    start = time.perf_counter()
    for p in paths[:count]:
        read_pixels(str(p), 3, fit)
    decode = count / (time.perf_counter() - start)
    from torchvision.io import decode_image, read_file  # the reference: libjpeg-turbo straight into a tensor

    start = time.perf_counter()
    for p in paths[:count]:
        decode_image(read_file(str(p)))
    torchvision_decode = count / (time.perf_counter() - start)
    same = bool(np.array_equal(read_pixels(str(paths[0]), 3), decode_image(read_file(str(paths[0]))).permute(1, 2, 0).numpy()))
    worker = main = 0.0
    cpu = time.process_time()
    for b in range(0, count, 128):
        t0 = time.perf_counter()
        items = [files[(i, 1)] for i in range(b, min(b + 128, count))]
        pixels, alpha = torch.stack([p for p, _, _ in items]), torch.stack([a for _, _, a in items])
        t1 = time.perf_counter()
        files.transform.finish(pixels, alpha)
        worker, main = worker + t1 - t0, main + time.perf_counter() - t1
    full_cpu = count / (time.process_time() - cpu)
    torch.set_num_threads(os.cpu_count() or 1)
    return {"decode": decode, "torchvision_decode": torchvision_decode, "same_pixels": same, "worker": count / worker, "main": count / main, "full": count / (worker + main),
            "full_per_cpu_s": full_cpu}


def resize_comparison(paths, pre, count: int, repeats: int) -> dict:
    """A worker's job with the training view's resize by torch's uint8 kernel (``fast_resize``, what the
    loader does) against Pillow's (``views.resize``, what predict's views use), one thread, in turn."""
    from dlnotes.data import views
    from dlnotes.data.transforms import flip_drawn, random_crop_params

    torch.set_num_threads(1)
    t = ImageTransform(224, "krizhevsky", train=True, pre=pre)

    def pillow(arr, g):  # the same view, every resize Pillow's
        r = views.short_side(224)
        square = views.centre_crop(views.resize_short(arr, r), r)
        top, left = random_crop_params(r, r, 224, g)
        crop = square[top:top + 224, left:left + 224]
        return torch.from_numpy(views.chw(crop[:, ::-1] if flip_drawn(g) else crop)), t.alpha(3, g)

    rates = {"torch": [], "pillow": []}
    for _ in range(repeats):
        for name, view in (("torch", t.pixels), ("pillow", pillow)):
            start = time.perf_counter()
            for i, p in enumerate(paths[:count]):
                g = torch.Generator().manual_seed(i)
                view(read_pixels(str(p), 3, t.fit(g)), g)
            rates[name].append(count / (time.perf_counter() - start))
    torch.set_num_threads(os.cpu_count() or 1)
    out = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    print(f"\nworker's job, krizhevsky training view, {count} files, one thread, medians of {repeats}: "
          f"torch's resize {out['torch']:.0f} images/s, Pillow's {out['pillow']:.0f} "
          f"(gain {out['torch'] / out['pillow']:.2f})")
    return out


def loader_rate(files: ImageFiles, workers: int, device: torch.device) -> dict:
    """Images/s of the loader alone: first pass (incl. worker start), second pass, and per CPU second
    (main process + workers, both passes)."""
    import gc

    before, cpu0 = os.times(), time.process_time()
    loader = Loader(files, 128, device, shuffle=True, generator=torch.Generator().manual_seed(0),
                    augment_generator=torch.Generator().manual_seed(1), workers=workers)
    rates, total = [], 0
    for _ in range(2):
        start, n = time.perf_counter(), 0
        for xb, _ in loader:
            n += len(xb)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - start))
        total += n
    del loader, xb
    gc.collect()  # the workers exit and are joined: their CPU time is now in os.times().children_*
    after = os.times()
    cpu = time.process_time() - cpu0 + after.children_user + after.children_system \
        - before.children_user - before.children_system
    return {"first": rates[0], "steady": rates[1], "per_cpu_s": total / cpu}


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of ``pid`` and all its descendants, from /proc. RSS counts a page shared by
    the trainer and its forked workers once per process; PSS splits it between them, so the PSS sum is
    the memory the tree really holds."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    rss = pss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.endswith("kB\n")}
            rss, pss = rss + fields.get("Rss", 0), pss + fields.get("Pss", 0)
        except (OSError, ValueError, IndexError):
            pass
        todo.extend(children.get(p, []))
    return rss, pss


def train_peak_rss(folder: Path, out: Path, limit_gb: float) -> dict:
    import yaml

    cfg = {"name": "rss", "seed": 0,
           "data": {"name": "image_folder", "root": str(folder), "image_size": 64, "batch_size": 64,
                    "val_fraction": 0.05, "memory_limit_gb": limit_gb, "workers": 2, "stats_images": 1000},
           "model": {"name": "alexnet", "width": 0.1, "dropout": 0.0},
           "train": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}}}
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dlnotes", "train", "--config", str(path), "--out", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak, peak_pss, done = 0, 0, threading.Event()

    def poll():
        nonlocal peak, peak_pss
        while not done.is_set():
            rss, pss = tree_memory(proc.pid)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(0.02)

    th = threading.Thread(target=poll)
    th.start()
    stdout, stderr = proc.communicate()
    done.set()
    th.join()
    if proc.returncode:
        raise SystemExit(f"training failed ({proc.returncode}):\n{stderr}")
    loading = json.loads((out / "meta.json").read_text())["preprocess"].get("loading", "")  # the path taken, and why
    return {"peak_rss_mb": round(peak / 2**20, 1), "peak_pss_mb": round(peak_pss / 2**20, 1), "seconds": round(time.perf_counter() - start, 1), "loading": loading,
            "test": stdout.strip().splitlines()[-1]}


def memory_check(paths: list[Path], tmp: Path, budget: int, sizes: list[int]) -> dict:
    """Peak memory of ``dlnotes train`` on folders of k x ``budget`` images (k in ``sizes``) with a memory
    budget that admits ``budget`` images of 3x64x64 float32 in memory: the folders must stream, flat."""
    limit_gb = budget * 3 * 64 * 64 * 4 / 2**30
    rss = []
    for k in sizes:
        n = k * budget
        folder = tmp / f"folder{n}"
        have = (paths * -(-n // len(paths)))[:n]
        for i, p in enumerate(have):  # hard links to the generated JPEGs (reused when n is larger)
            (folder / p.parent.name).mkdir(parents=True, exist_ok=True)
            os.link(p, folder / p.parent.name / f"{i:06d}.jpg")
        r = train_peak_rss(folder, tmp / f"run{n}", limit_gb)
        rss.append({"images": n, "times_budget": k, **r})
    out = {"memory_limit_gb": round(limit_gb, 5), "budget_images": budget, "runs": rss}
    print(f"\nmemory: data.memory_limit_gb = {limit_gb:.5f} admits {budget} images of 3x64x64 in memory")
    print(f"{'images':>7} {'x budget':>9} {'peak RSS MB (tree)':>19} {'peak PSS MB (tree)':>19} {'seconds':>8}  path")
    for r in rss:
        print(f"{r['images']:>7} {r['times_budget']:>9} {r['peak_rss_mb']:>19,.1f} {r['peak_pss_mb']:>19,.1f} "
              f"{r['seconds']:>8.1f}  {r['loading']}")
    out["growth"] = round(rss[-1]["peak_pss_mb"] / rss[0]["peak_pss_mb"], 3)
    out["rss_growth"] = round(rss[-1]["peak_rss_mb"] / rss[0]["peak_rss_mb"], 3)
    print(f"peak PSS ratio, largest / smallest folder: {out['growth']:.3f} (RSS: {out['rss_growth']:.3f}; folder "
          f"ratio {rss[-1]['images'] / rss[0]['images']:.1f})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--single", type=int, default=0, help="files timed for the single-thread rate (0: all)")
    ap.add_argument("--budget", type=int, default=200, help="images the lowered memory budget admits in memory")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of (single thread, each loader); medians")
    ap.add_argument("--compare-resize", action="store_true",
                    help="also time the training view with Pillow's resize instead of torch's (use --size > 256)")
    ap.add_argument("--rss-sizes", default="12,24", help="folder sizes for the RSS check, in multiples of --budget ('': no memory check)")
    args = ap.parse_args()
    results: dict = {"cpu_count": os.cpu_count(), "torch": torch.__version__, "images": args.images, "size": args.size}
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        paths = make_folder(tmp / "jpegs", args.images, args.size)
        print(f"generated {len(paths)} JPEGs of {args.size}x{args.size} in {time.perf_counter() - start:.1f} s "
              f"({sum(p.stat().st_size for p in paths) / len(paths) / 1024:.1f} KiB each)")
        pre = {"x_mean": [0.5] * 3, "x_std": [0.25] * 3, "pca_eigval": [0.2, 0.02, 0.005],
               "pca_eigvec": np.linalg.qr(np.random.default_rng(0).random((3, 3)))[0].tolist()}
        results["load_before"] = os.getloadavg()[0]
        setups = [("cpu", "cpu", int(w)) for w in args.workers.split(",")]
        if torch.cuda.is_available():
            w = max(int(v) for v in args.workers.split(","))
            setups += [("cuda", "cpu", w), ("cuda", "cuda", w)]
        singles, runs = [], {s: [] for s in setups}
        for _ in range(args.repeats):  # the limit and each loader in turn, so that noise falls on all alike
            singles.append(single_thread_rate(paths, pre, min(args.single or len(paths), len(paths))))
            for dev, decode_on, w in setups:
                runs[dev, decode_on, w].append(
                    loader_rate(files_of(paths, workers=w, decode=decode_on, pre=pre), w, torch.device(dev)))
        med = statistics.median
        single = {k: med(s[k] for s in singles) for k in singles[0] if k != "same_pixels"}
        results["same_pixels_as_torchvision"] = all(s["same_pixels"] for s in singles)
        decode, full = single["decode"], single["full"]
        results.update(single_thread_decode=round(decode, 1),
                       single_thread_torchvision_decode=round(single["torchvision_decode"], 1), single_thread_worker_job=round(single["worker"], 1),
                       single_thread_main_job=round(single["main"], 1), single_thread_decode_and_view=round(full, 1),
                       single_thread_per_cpu_s=round(single["full_per_cpu_s"], 1), repeats=args.repeats,
                       single_thread_all=[round(s["full"], 1) for s in singles])
        rows = []
        for (dev, decode_on, w), rs in runs.items():
            steady, limit = med(r["steady"] for r in rs), full * w
            rows.append({"device": dev if dev == "cpu" else f"cuda, decode {decode_on}", "workers": w,
                         "loader_first_pass": round(med(r["first"] for r in rs), 1), "loader": round(steady, 1),
                         "loader_all": [round(r["steady"], 1) for r in rs],
                         "limit": round(limit, 1), "fraction": round(steady / limit, 3),
                         "cpu_efficiency": round(med(r["per_cpu_s"] for r in rs) / single["full_per_cpu_s"], 3)})
        results["load_after"] = os.getloadavg()[0]
        results["loader"] = rows
        print(f"\nmedians of {args.repeats}, taken in turn; single thread: decode {decode:.0f} images/s "
              f"(torchvision.io's decode_image: {single['torchvision_decode']:.0f}; the same pixels: "
              f"{results['same_pixels_as_torchvision']}); "
              f"a worker's job (decode + krizhevsky training view + uint8 batch) {single['worker']:.0f} images/s; "
              f"the main process's job (to float, colour noise, normalisation) {single['main']:.0f} images/s; "
              f"both, the limit per worker, {full:.0f} images/s ({single['full_per_cpu_s']:.0f} per CPU second); "
              f"load average {results['load_before']:.1f} on {os.cpu_count()} cores")
        print(f"{'device':<20} {'workers':>7} {'first pass':>11} {'loader img/s':>13} {'limit img/s':>12} "
              f"{'fraction':>9} {'CPU efficiency':>15}")
        for r in rows:
            print(f"{r['device']:<20} {r['workers']:>7} {r['loader_first_pass']:>11,.0f} {r['loader']:>13,.0f} "
                  f"{r['limit']:>12,.0f} {r['fraction']:>9.2f} {r['cpu_efficiency']:>15.2f}")

        if args.compare_resize:
            results["resize"] = resize_comparison(paths, pre, min(args.single or 500, len(paths)), args.repeats)
        if args.rss_sizes:
            results["rss"] = memory_check(paths, tmp, args.budget, [int(v) for v in args.rss_sizes.split(",")])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
