"""Whether an input looks unlike the training images: the check behind predict's warning.

Two rules, by how the inputs were made (numpy only; the statistics come from ``statistics`` on the
training images, recorded in meta.json's ``pixel_stats``):

- **Photos prepared in a dataset's style** (``digit_photos``: ink cropped, fitted, centred). Brightness
  and contrast are the wrong yardstick here: they follow the pen. A thin pen's digit, fitted in MNIST's
  20x20 box, comes out with strokes under a pixel wide and grey, so its brightness and contrast fall far
  below MNIST's narrow spread though its shape is a clean digit (10 of 21 clean photos were flagged that
  way). What preparation cannot turn into a digit shows in the shape of the ink instead, measured on the
  ink mask (pixels above a quarter of the image's own peak, so faint strokes count like dark ones):
      cover   the share of the image that is ink
      solid   for a box of ink at least 0.4 as wide as tall, the share of its rows and columns (the
              smaller of the two) that are over 80% ink: filled areas (paper, a table, a photo of
              something, noise fields); a stroke is never solid both ways, a "1" is too narrow to count
      runs    ink runs per row and column of the box: textures, noise, writing over writing
      blank   no ink at all
  An input is flagged when a measure passes the training images' 99.9th percentile by a margin
  (``MARGIN``), or is blank. Each test is one-sided, towards the foreign: less ink, thinner or fainter
  strokes are never flagged.
- **Images used as they are** (image folders, CIFAR-10): the brightness (per-image mean) or the
  contrast (per-image std) more than ``z`` spreads (and 0.1) away from the training images': an
  inverted image, a picture of another kind.
"""

from __future__ import annotations

import numpy as np

MARGIN = {"cover": 0.10, "solid": 0.15, "runs": 0.5}
CHUNK = 4096  # images per step: the masks of a chunk stay small


def ink_shape(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per image of a grey batch (N, H, W) in [0, 1]: peak, cover, solid and runs (module docstring)."""
    n, h, w = x.shape
    peak = x.reshape(n, -1).max(1)
    ink = (x > 0.25 * peak[:, None, None]) & (peak >= 0.05)[:, None, None]
    rows, cols = ink.any(2), ink.any(1)
    r0, r1 = rows.argmax(1), h - 1 - rows[:, ::-1].argmax(1)
    c0, c1 = cols.argmax(1), w - 1 - cols[:, ::-1].argmax(1)
    bh = np.where(rows.any(1), r1 - r0 + 1, 0)
    bw = np.where(cols.any(1), c1 - c0 + 1, 0)
    full_rows = (ink.sum(2) > 0.8 * bw[:, None]).sum(1) / np.maximum(bh, 1)  # rows outside the box hold no ink
    full_cols = (ink.sum(1) > 0.8 * bh[:, None]).sum(1) / np.maximum(bw, 1)
    wide = np.minimum(bh, bw) >= 0.4 * np.maximum(bh, bw)
    starts_r = (ink[:, :, 1:] & ~ink[:, :, :-1]).sum((1, 2)) + ink[:, :, 0].sum(1)
    starts_c = (ink[:, 1:, :] & ~ink[:, :-1, :]).sum((1, 2)) + ink[:, 0, :].sum(1)
    return {"peak": peak, "cover": ink.mean((1, 2)),
            "solid": np.where(wide & (bh > 0), np.minimum(full_rows, full_cols), 0.0),
            "runs": (starts_r / np.maximum(bh, 1) + starts_c / np.maximum(bw, 1)) / 2}


def grey(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W): the mean over channels."""
    return x.mean(1) if x.shape[1] > 1 else x[:, 0]


def statistics(x: np.ndarray) -> dict[str, float]:
    """What the check needs of the training images (N, C, H, W) in [0, 1]: brightness and contrast
    (average and spread) and the 99.9th percentile of each ink-shape measure."""
    per = x.reshape(len(x), -1)
    mean, contrast = per.mean(1, dtype=np.float64), per.std(1, dtype=np.float64)
    shapes = [ink_shape(grey(x[i:i + CHUNK])) for i in range(0, len(x), CHUNK)]
    out = {"mean": float(mean.mean()), "mean_sd": float(mean.std()),
           "contrast": float(contrast.mean()), "contrast_sd": float(contrast.std())}
    out.update({f"{k}_q999": float(np.quantile(np.concatenate([s[k] for s in shapes]), 0.999)) for k in MARGIN})
    return out


def unlike(x: np.ndarray, stats: dict[str, float], prepared: bool, z: float = 4.0) -> list[str | None]:
    """Per input (N, C, H, W) in [0, 1]: why it looks unlike the training images, or None."""
    if prepared and "cover_q999" in stats:
        shape = ink_shape(grey(x))
        out = []
        for i in range(len(x)):
            if shape["peak"][i] < 0.05:
                out.append("no ink found")
                continue
            past = [k for k in MARGIN if shape[k][i] > stats[f"{k}_q999"] + MARGIN[k]]
            out.append("; ".join(_shape_words(k, shape[k][i], stats[f"{k}_q999"]) for k in past) or None)
        return out
    per = x.reshape(len(x), -1)
    out = []
    for m, c in zip(per.mean(1, dtype=np.float64), per.std(1, dtype=np.float64)):
        far_m = abs(m - stats["mean"]) > max(z * stats["mean_sd"], 0.1)
        far_c = abs(c - stats["contrast"]) > max(z * stats["contrast_sd"], 0.1)
        out.append(f"brightness {m:.2f}, contrast {c:.2f}; training {stats['mean']:.2f} +- {stats['mean_sd']:.2f}, "
                   f"{stats['contrast']:.2f} +- {stats['contrast_sd']:.2f}" if far_m or far_c else None)
    return out


def _shape_words(key: str, value: float, limit: float) -> str:
    if key == "cover":
        return f"ink covers {value:.0%} of it, the training images at most {limit:.0%}"
    if key == "solid":
        return f"{value:.0%} of its rows and columns are solid ink, the training images' at most {limit:.0%}"
    return f"{value:.1f} ink runs per row and column, the training images' at most {limit:.1f}"
