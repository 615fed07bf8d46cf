"""The reference for scripts/bench.py: each benchmark case written by hand in plain PyTorch.

    python scripts/handwritten.py lenet_digits [--epochs 20] [--device cpu] [--out DIR]

No dlnotes import: the data, the model, the loop, the test, the saved weights and the figures are
written the way a careful user would write them in one file (in-memory tensors, shuffled index
slices, one .item() per epoch). With ``--out DIR`` it does the work ``dlnotes train`` does after
training too, so that the benchmark compares equal work: the weights to DIR/model.safetensors, and
the same three figures drawn with matplotlib's defaults (no layout engine, default dpi), at sizes
like dlnotes': learning curves (loss and lr per epoch), the confusion matrix with its counts and
colour bar, and the 25 test examples with the highest loss (pictures for images, curves otherwise)
captioned true/predicted/loss, as dlnotes' top_losses.png.
Prints one JSON line: {"case", "accuracy", "train_seconds"}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def digits(size: int = 28):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp_(0, 1)
    y = torch.from_numpy(d.target.astype(np.int64))
    tr, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=d.target, random_state=0)
    xtr, xte = x[tr], x[te]
    mean, std = xtr.mean(), xtr.std()
    return (xtr - mean) / std, y[tr], (xte - mean) / std, y[te]


def mnist1d():
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32)).unsqueeze(-1)  # noqa: E731
    lab = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
    xtr, xte = t(d["x"]), t(d["x_test"])
    mean, std = xtr.mean(), xtr.std()
    return (xtr - mean) / std, lab(d["y"]), (xte - mean) / std, lab(d["y_test"])


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                        nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class GRUNet(nn.Module):  # the MNIST-1D paper's GRU: bidirectional, every step's state into the classifier
    def __init__(self, hidden: int = 6, steps: int = 40):
        super().__init__()
        self.rnn = nn.GRU(1, hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden * steps, 10)

    def forward(self, x):
        return self.fc(self.rnn(x)[0].flatten(1))


CASES = {  # data, model, batch size, learning rate, default epochs: as the matching config
    "lenet_digits": (digits, LeNet, 64, 1e-3, 20),
    "mlp_mnist1d": (mnist1d, lambda: nn.Sequential(nn.Flatten(), nn.Linear(40, 100), nn.ReLU(), nn.Dropout(0.2),
                                                   nn.Linear(100, 100), nn.ReLU(), nn.Dropout(0.2),
                                                   nn.Linear(100, 10)), 100, 1e-2, 150),
    "gru_mnist1d": (mnist1d, GRUNet, 100, 1e-2, 150),
    "logreg_mnist1d": (mnist1d, lambda: nn.Sequential(nn.Flatten(), nn.Linear(40, 10)), 100, 1e-2, 150),
}


def save_and_draw(out: Path, model, history: list[tuple[float, float]], xte, yte, pred, loss, num_classes: int,
                  image: bool) -> None:
    """The weights as safetensors and the three figures, as a user would write them with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.safetensors")
    epochs = range(1, len(history) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, [h[0] for h in history], marker="o", label="train")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax1.legend()
    ax2.plot(epochs, [h[1] for h in history], marker="o")
    ax2.set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    fig.savefig(out / "learning_curves.png")
    plt.close(fig)

    cm = torch.bincount(yte * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    fig, ax = plt.subplots(figsize=(6.5, 5.8))
    im = ax.imshow(cm, cmap="Blues")
    ax.set(xticks=range(num_classes), yticks=range(num_classes), xlabel="predicted", ylabel="true",
           title="confusion matrix")
    for i in range(num_classes):
        for j in range(num_classes):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax)
    fig.savefig(out / "confusion_matrix.png")
    plt.close(fig)

    # the 25 test examples with the highest loss, as dlnotes' top_losses.png: pictures, or curves
    top = loss.argsort(descending=True)[:25].tolist()
    cols = min(5, len(top))
    rows = (len(top) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(8, 2.2 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, top):
        if image:
            ax.imshow(xte[i, 0].cpu(), cmap="gray")
        else:
            ax.axis("on")
            ax.plot(xte[i].reshape(-1).cpu())
        ax.set_title(f"true {int(yte[i])}\npredicted {int(pred[i])}\nloss {float(loss[i]):.3g}", fontsize=9)
    fig.suptitle(f"test examples with the highest loss ({len(top)} of {len(yte)})")
    fig.savefig(out / "top_losses.png")
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None, help="folder for the weights and the figures")
    args = ap.parse_args()
    data_fn, model_fn, batch, lr, epochs = CASES[args.case]
    epochs = args.epochs or epochs
    torch.manual_seed(0)
    dev = torch.device(args.device)
    xtr, ytr, xte, yte = (t.to(dev) for t in data_fn())
    model = model_fn().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []  # (mean training loss, lr) per epoch
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), device=dev)
        total = torch.zeros((), device=dev)
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        history.append((total.item() / len(xtr), opt.param_groups[0]["lr"]))
        print(f"epoch {epoch + 1}: loss {history[-1][0]:.4f}", flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.inference_mode():
        logits = model(xte)
        pred, loss = logits.argmax(1), F.cross_entropy(logits, yte, reduction="none")
    acc = (pred == yte).float().mean().item()
    if args.out:
        save_and_draw(args.out, model, history, xte, yte, pred, loss.cpu(), 10, xte.dim() == 4)
    print(json.dumps({"case": args.case, "accuracy": round(acc, 4), "train_seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
