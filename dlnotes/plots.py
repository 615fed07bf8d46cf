"""Figures written into RUN/plots/ after training and by ``dlnotes plot --run DIR`` (matplotlib, Agg).

learning_curves.png  train/val loss and the main validation metric per epoch
confusion_matrix.png classification: rows true class, columns predicted
predicted_vs_true.png regression: each test prediction against its target
fit.png              one-feature regression: the data and the fitted line
loss_surface.png     solver grid: the loss over (w, b) as a heatmap, with the best point
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def _save(fig, path: Path) -> Path:
    from dlnotes.engine.checkpoint import atomic_write
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def learning_curves(history: list[dict], task: str, path: Path) -> Path | None:
    from dlnotes.engine.evaluate import main_metric

    if not history:
        return None
    epochs = [h["epoch"] for h in history]
    metric, _ = main_metric(task)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train")
    if "val_loss" in history[0]:
        axes[0].plot(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    key = f"val_{metric}"
    if key in history[0]:
        axes[1].plot(epochs, [h[key] for h in history], color="C2")
        axes[1].set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    else:
        axes[1].plot(epochs, [h["lr"] for h in history], color="C3")
        axes[1].set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    return _save(fig, path)


def confusion(cm: list[list[int]], classes: list[str], path: Path) -> Path:
    k = len(cm)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * k, 1 + 0.45 * k))
    im = ax.imshow(cm, cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title="confusion matrix")
    ax.set_xticklabels(classes, rotation=90 if k > 5 else 0)
    ax.set_yticklabels(classes)
    top = max(max(r) for r in cm) or 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, cm[i][j], ha="center", va="center", fontsize=8, color="white" if cm[i][j] > top / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def predicted_vs_true(pred: torch.Tensor, truth: torch.Tensor, path: Path) -> Path:
    pred, truth = pred.reshape(-1)[:20000].cpu(), truth.reshape(-1)[:20000].cpu()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(truth, pred, s=6, alpha=0.5)
    lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="true", ylabel="predicted", title="test predictions")
    return _save(fig, path)


def fitted_line(x: torch.Tensor, y: torch.Tensor, w: float, b: float, path: Path) -> Path:
    x, y = x.reshape(-1)[:5000].cpu(), y.reshape(-1)[:5000].cpu()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(x, y, s=8, alpha=0.5, label="data")
    xs = torch.linspace(float(x.min()), float(x.max()), 2)
    ax.plot(xs, w * xs + b, "C3", label=f"y = {w:.3g} x + {b:.3g}")
    ax.set(xlabel="x", ylabel="y", title="fitted line")
    ax.legend()
    return _save(fig, path)


def loss_surface(loss: torch.Tensor, ws: torch.Tensor, bs: torch.Tensor, best: tuple[float, float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    im = ax.imshow(loss.log10().T.numpy(), origin="lower", aspect="auto", cmap="viridis",
                   extent=[float(ws[0]), float(ws[-1]), float(bs[0]), float(bs[-1])])
    ax.plot(*best, "r*", ms=12, label=f"best w={best[0]:.3g}, b={best[1]:.3g}")
    ax.set(xlabel="w", ylabel="b", title="log10 mean squared error over the grid")
    ax.legend(loc="upper right")
    fig.colorbar(im, ax=ax)
    return _save(fig, path)


def plot_run(run) -> list[Path]:
    """Draws every figure that fits the run's task into RUN/plots/; returns their paths."""
    from dlnotes.data.prepare import denormalize_y
    from dlnotes.engine.checkpoint import load_state, unwrap
    from dlnotes.engine.evaluate import predict_outputs
    from dlnotes.engine.rundir import RunDir

    out = run.path / "plots"
    rd = RunDir(run.path)
    task, pre = run.task, run.meta["preprocess"]
    paths = [learning_curves(rd.read_history(), task, out / "learning_curves.png")]
    metrics = run.metrics or run.evaluate("test")
    if task == "classification" and "confusion_matrix" in metrics:
        paths.append(confusion(metrics["confusion_matrix"], run.meta["dataset"]["classes"], out / "confusion_matrix.png"))
    if task in ("regression", "forecasting"):
        test = run.data.test
        pred = denormalize_y(predict_outputs(run.model, test.x, 1024, run.device).cpu().reshape(test.y.shape), pre)
        truth = denormalize_y(test.y, pre)
        paths.append(predicted_vs_true(pred, truth, out / "predicted_vs_true.png"))
        lin = getattr(unwrap(run.model), "linear", None)
        if task == "regression" and lin is not None and lin.weight.numel() == 1 and "x_mean" not in pre:
            paths.append(fitted_line(test.x, truth, lin.weight.item(), lin.bias.item(), out / "fit.png"))
    surface = run.path / "checkpoint/surface.pt"
    if surface.is_file():
        s = load_state(surface)
        best = run.meta.get("grid_best", {})
        paths.append(loss_surface(s["loss"], s["w"], s["b"], (best.get("w", 0), best.get("b", 0)), out / "loss_surface.png"))
    return [p for p in paths if p is not None]
