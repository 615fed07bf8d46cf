"""Time to accuracy: a config's own schedule against one-cycle at lr-find's suggestion, on equal data.

    python scripts/time_to_accuracy.py --config configs/lenet_fashion_mnist.yaml --target 0.9125 \\
        --budgets 3,4,5 --baseline 5,15 [--root DIR] [--out DIR] [--repeats 1]

For each epoch budget the run is trained from scratch with that many epochs (a cosine or one-cycle
schedule spans the whole run, so a 5-epoch one-cycle is not the first 5 epochs of a 15-epoch one), then
tested once. The baseline rows keep the config's optimizer and schedule; the one-cycle rows set
``train.scheduler.name=onecycle`` with ``max_lr`` at each of lr-find's two suggestions (``steepest`` and
``min_div10``, found once on the config's initial weights). A budget reaches the target when its test
accuracy is at least ``--target``; the table gives each row's test accuracy and training seconds (the
whole ``dlnotes.train`` call: collect, build, train, test, figures), and the JSON line the fewest epochs
and their seconds for each schedule. ``--suggestions none`` skips lr-find (give ``--max-lr``); the first
row then also pays the process's one-time imports (~2 s), which lr-find's pass otherwise takes.

The data is the config's (``--root`` points an IDX dataset at its files: Fashion-MNIST's come in Debian's
``dataset-fashion-mnist`` package; nothing is downloaded). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlnotes.config import load_config  # noqa: E402
from dlnotes.run import train  # noqa: E402
from dlnotes.tune.lr_find import lr_find  # noqa: E402


def one_run(config: str, overrides: list[str], out: Path) -> tuple[float, float]:
    """(test accuracy, seconds) of one fresh run."""
    t = time.perf_counter()
    run = train(config, out=out, overrides=overrides, quiet=True)
    return float(run.metrics["accuracy"]), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--target", type=float, required=True, help="test accuracy to reach")
    ap.add_argument("--budgets", default="3,4,5", help="epoch budgets of the one-cycle runs")
    ap.add_argument("--baseline", default=None, help="epoch budgets of the config's own schedule [its epochs]; "
                    "'none' for no baseline rows")
    ap.add_argument("--root", default=None, help="data.root for an IDX dataset")
    ap.add_argument("--out", default=None, help="folder for the runs [a temporary one]")
    ap.add_argument("--suggestions", default="steepest,min_div10", help="lr-find's suggestions to try as max_lr; "
                    "'none' for none")
    ap.add_argument("--max-lr", default="", help="more max_lr values to try, comma-separated (e.g. the config's lr)")
    ap.add_argument("--onecycle-overrides", default="", help="more overrides for the one-cycle rows and their "
                    "lr-find, comma-separated (e.g. data.batch_size=32)")
    args = ap.parse_args()

    base = [f"data.root={args.root}"] if args.root else []
    tuned = [o for o in args.onecycle_overrides.split(",") if o]
    suggested = {}
    if args.suggestions != "none":  # only the suggestions need lr-find's pass over the data
        finding = lr_find(load_config(args.config, base + tuned), quiet=True)
        suggested = finding.as_dict()["suggestions"]
        print(f"lr-find: {', '.join(f'{k}={v:.3g}' for k, v in suggested.items())} ({finding.stopped})",
              file=sys.stderr)

    config = load_config(args.config, base)
    budgets = [] if args.baseline == "none" else \
        [int(b) for b in args.baseline.split(",")] if args.baseline else [config.train.epochs]
    plans = [(f"{config.train.scheduler.name} lr={config.train.optimizer.lr:g} (config)", e, []) for e in budgets]
    tries = [] if args.suggestions == "none" else [(name, suggested[name]) for name in args.suggestions.split(",")]
    tries += [("given", float(v)) for v in args.max_lr.split(",") if v]
    for name, lr in tries:
        label = f"onecycle max_lr={lr:.3g} ({name}{', ' + ' '.join(tuned) if tuned else ''})"
        plans += [(label, int(e), tuned + ["train.scheduler.name=onecycle", f"train.scheduler.max_lr={lr:.6g}"])
                  for e in args.budgets.split(",")]

    out = Path(args.out or tempfile.mkdtemp(prefix="tta-"))
    rows = []
    for i, (schedule, epochs, extra) in enumerate(plans):
        acc, sec = one_run(args.config, base + extra + [f"train.epochs={epochs}"], out / f"r{i}")
        rows.append({"schedule": schedule, "epochs": epochs, "test_accuracy": acc, "seconds": round(sec, 1),
                     "reached": acc >= args.target})
        print(f"  {schedule:40s} {epochs:3d} epochs  accuracy {acc:.4f}  {sec:7.1f} s", file=sys.stderr)

    print(f"\n{'schedule':40s} {'epochs':>6s} {'test acc':>9s} {'seconds':>8s}  target {args.target:g}")
    for r in rows:
        print(f"{r['schedule']:40s} {r['epochs']:6d} {r['test_accuracy']:9.4f} {r['seconds']:8.1f}  "
              f"{'reached' if r['reached'] else '-'}")
    best = {}
    for r in rows:
        key = r["schedule"]
        if r["reached"] and (key not in best or r["epochs"] < best[key]["epochs"]):
            best[key] = {"epochs": r["epochs"], "seconds": r["seconds"]}
    print(json.dumps({"config": args.config, "target": args.target, "lr_find": suggested, "rows": rows,
                      "fewest_epochs_to_target": best}))


if __name__ == "__main__":
    main()
