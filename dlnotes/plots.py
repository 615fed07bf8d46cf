"""Figures written into RUN/plots/ after training and by ``dlnotes plot --run DIR`` (matplotlib, Agg).

learning_curves.png  train/val loss and the main validation metric per epoch
confusion_matrix.png classification: rows true class, columns predicted
predicted_vs_true.png regression: each test prediction against its target
fit.png              one-feature regression: the data and the fitted line
loss_surface.png     solver grid: the loss over (w, b) as a heatmap, with the best point; solver gd
                     on one feature: the same surface with the path gradient descent took across it
misclassified.png    image classifiers: the test images the model got wrong, "true -> predicted"
forecasts.png        forecasting: test windows, the true next values and the forecast
activations.png      ``dlnotes plot --activations``: sigmoid, tanh, ReLU, Leaky ReLU and derivatives
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def _save(fig, path: Path) -> Path:
    from dlnotes.engine.checkpoint import atomic_write
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)  # constrained layout: one render, no "tight" second pass
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path


def learning_curves(history: list[dict], task: str, path: Path) -> Path | None:
    from dlnotes.engine.evaluate import main_metric

    if not history:
        return None
    epochs = [h["epoch"] for h in history]
    metric, _ = main_metric(task)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
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
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * k, 1 + 0.45 * k), layout="constrained")
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
    fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
    ax.scatter(truth, pred, s=6, alpha=0.5)
    lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="true", ylabel="predicted", title="test predictions")
    return _save(fig, path)


def fitted_line(x: torch.Tensor, y: torch.Tensor, w: float, b: float, path: Path) -> Path:
    x, y = x.reshape(-1)[:5000].cpu(), y.reshape(-1)[:5000].cpu()
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    ax.scatter(x, y, s=8, alpha=0.5, label="data")
    xs = torch.linspace(float(x.min()), float(x.max()), 2)
    ax.plot(xs, w * xs + b, "C3", label=f"y = {w:.3g} x + {b:.3g}")
    ax.set(xlabel="x", ylabel="y", title="fitted line")
    ax.legend()
    return _save(fig, path)


def loss_surface(loss: torch.Tensor, ws: torch.Tensor, bs: torch.Tensor, best: tuple[float, float], path: Path,
                 descent: tuple[list[float], list[float]] | None = None) -> Path:
    """log10 MSE over (w, b) as a heatmap with the best point; ``descent`` adds gradient descent's path."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    im = ax.imshow(loss.log10().T.numpy(), origin="lower", aspect="auto", cmap="viridis",
                   extent=[float(ws[0]), float(ws[-1]), float(bs[0]), float(bs[-1])])
    if descent is not None:
        ax.plot(*descent, "w.-", ms=3, lw=1, label="gradient descent, one point per epoch")
    ax.plot(*best, "r*", ms=12, label=f"{'end' if descent else 'best'} w={best[0]:.3g}, b={best[1]:.3g}")
    title = "log10 mean squared error and the descent path" if descent else "log10 mean squared error over the grid"
    ax.set(xlabel="w", ylabel="b", title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax)
    return _save(fig, path)


def gd_path(x: torch.Tensor, y: torch.Tensor, history: list[dict], path: Path) -> Path:
    """The loss surface around the path gradient descent took (by the grid solver), and the path."""
    from types import SimpleNamespace

    from dlnotes.engine.solvers import grid_search

    ws, bs = [h["w"] for h in history], [h["b"] for h in history]
    def span(v):
        pad = max(max(v) - min(v), 1e-3) * 0.35
        return min(v) - pad, max(v) + pad
    (w_min, w_max), (b_min, b_max) = span(ws), span(bs)
    grid = SimpleNamespace(w_min=w_min, w_max=w_max, b_min=b_min, b_max=b_max, steps=121, max_memory_mb=math.inf)
    g = grid_search(x, y, grid)
    return loss_surface(g["surface"], g["ws"], g["bs"], (ws[-1], bs[-1]), path, descent=(ws, bs))


def misclassified(images: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, classes: list[str],
                  path: Path, limit: int = 25) -> Path | None:
    """A grid of the test images the model got wrong (at most ``limit``), titled "true -> predicted"."""
    wrong = (pred != truth).nonzero().flatten()[:limit]
    if len(wrong) == 0:
        return None
    cols = min(5, len(wrong))
    rows = (len(wrong) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.1 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong.tolist()):
        img = images[i].float()
        img = (img - img.min()) / (img.max() - img.min() + 1e-12)
        ax.imshow(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(), cmap="gray")
        ax.set_title(f"{classes[int(truth[i])]} -> {classes[int(pred[i])]}", fontsize=9, color="C3")
    fig.suptitle(f"misclassified test images ({int((pred != truth).sum())} of {len(truth)})")
    return _save(fig, path)


def forecasts(x: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, path: Path, n: int = 4) -> Path:
    """A few test windows: the input, the true next values and the forecast."""
    n = min(n, len(x))
    fig, axes = plt.subplots(n, 1, figsize=(7, 1.8 * n), squeeze=False, sharex=True, layout="constrained")
    t_in = torch.arange(x.shape[1])
    t_out = torch.arange(x.shape[1], x.shape[1] + truth.shape[1])
    for k, ax in enumerate(axes.flat):
        ax.plot(t_in, x[k, :, 0], "C0", lw=1, label="input")
        ax.plot(t_out, truth[k], "ko", ms=4, label="truth")
        ax.plot(t_out, pred[k], "C3x", ms=6, label="forecast")
    axes.flat[0].legend(loc="upper left", fontsize=8, ncol=3)
    axes.flat[-1].set_xlabel("step")
    fig.suptitle("test forecasts")
    return _save(fig, path)


def activation_functions(path: Path) -> Path:
    """The notes' four activations and their derivatives (by autograd through our modules)."""
    from dlnotes.nn.activations import activation

    x = torch.linspace(-5, 5, 401, requires_grad=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        f = activation(name, 0.1) if name == "leaky_relu" else activation(name)
        y = f(x)
        (dy,) = torch.autograd.grad(y.sum(), x)
        label = "leaky_relu (slope 0.1)" if name == "leaky_relu" else name
        axes[0].plot(x.detach(), y.detach(), label=label)
        axes[1].plot(x.detach(), dy, label=label)
    axes[0].set(xlabel="x", ylabel="f(x)", title="activation functions", ylim=(-1.5, 3))
    axes[1].set(xlabel="x", ylabel="f'(x)", title="derivatives")
    for ax in axes:
        ax.axhline(0, color="gray", lw=0.5)
        ax.legend(fontsize=8)
    return _save(fig, Path(path))


def plot_run(run) -> list[Path]:
    """Draws every figure that fits the run's task into RUN/plots/; returns their paths."""
    from dlnotes.data.prepare import denormalize_y
    from dlnotes.engine.checkpoint import unwrap
    from dlnotes.engine.evaluate import predict_outputs
    from dlnotes.engine.rundir import RunDir

    rd = RunDir(run.path)
    out = rd.plots_dir
    task, pre = run.task, run.meta["preprocess"]
    paths = [learning_curves(rd.read_history(), task, out / "learning_curves.png")]
    metrics = run.metrics or run.evaluate("test")
    classes = run.meta["dataset"]["classes"]
    if task == "classification" and "confusion_matrix" in metrics:
        paths.append(confusion(metrics["confusion_matrix"], classes, out / "confusion_matrix.png"))
    if task == "classification" and run.meta["dataset"]["kind"] == "image":
        from dlnotes.engine.metrics import labels

        test = run.data.test
        logits = predict_outputs(run.model, test.x, 1024, run.device).cpu()
        pred = labels(logits, getattr(unwrap(run.model), "threshold", 0.5))
        paths.append(misclassified(test.x, test.y, pred, classes, out / "misclassified.png"))
    if task in ("regression", "forecasting"):
        test = run.data.test
        pred = denormalize_y(predict_outputs(run.model, test.x, 1024, run.device).cpu().reshape(test.y.shape), pre)
        truth = denormalize_y(test.y, pre)
        paths.append(predicted_vs_true(pred, truth, out / "predicted_vs_true.png"))
        if task == "forecasting":
            raw = test.x * torch.tensor(pre["x_std"]) + torch.tensor(pre["x_mean"]) if "x_mean" in pre else test.x
            paths.append(forecasts(raw, truth.reshape(len(truth), -1), pred.reshape(len(pred), -1),
                                   out / "forecasts.png"))
        lin = getattr(unwrap(run.model), "linear", None)
        if task == "regression" and lin is not None and lin.weight.numel() == 1 and "x_mean" not in pre:
            paths.append(fitted_line(test.x, truth, lin.weight.item(), lin.bias.item(), out / "fit.png"))
    history = rd.read_history()
    if history and "w" in history[0] and "b" in history[0]:  # gradient descent on one feature
        train = run.data.train
        paths.append(gd_path(train.x, train.y, history, out / "loss_surface.png"))
    s = rd.read_surface()
    if s is not None:
        best = run.meta.get("grid_best", {})
        paths.append(loss_surface(s["loss"], s["w"], s["b"], (best.get("w", 0), best.get("b", 0)), out / "loss_surface.png"))
    return [p for p in paths if p is not None]
