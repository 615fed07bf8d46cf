"""Applying a trained model to raw inputs, with exactly the preprocessing recorded in meta.json.

Images: a file or a folder of PNG/JPEG/BMP files, any size, colour or gray; converted to the model's
channels, resized, scaled to [0, 1] and normalised. Tables: a CSV with the training feature columns.
Sequences: a .npy or .csv of values. Text: a prompt to continue.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlnotes.data.base import resize_images
from dlnotes.data.checks import check_float32
from dlnotes.data.prepare import denormalize_y, normalize
from dlnotes.errors import UserError, path_note

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _image_files(path: Path) -> list[Path]:
    if not path.exists():
        raise UserError(f"--input '{path}' not found{path_note(path)}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
        if not files:
            raise UserError(f"--input '{path}' holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    return [path]


MAX_PIXELS = 64_000_000  # a 50-megapixel photo fits; a 30000x30000 "bomb" (3.6 GB as float) does not
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def read_image(path: Path, channels: int) -> torch.Tensor:
    """One image file as float (C, H, W) in [0, 1], converted to gray (C = 1) or RGB (C = 3).

    8-bit images are divided by 255, 16-bit ones (PNG/TIFF ``I;16``) by 65,535: the full depth is
    kept, never clipped to 8 bits. Only regular files are opened (a FIFO named x.png would block),
    and the pixel count is checked from the header before decoding.
    """
    import stat

    from PIL import Image, UnidentifiedImageError

    too_big = f"'{path}' has more than {MAX_PIXELS:,} pixels (a decompression bomb, or a photo to shrink first)"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UserError(f"'{path}' is not a regular file (a pipe, device or socket); give an image file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size[0] * img.size[1] > MAX_PIXELS:
                    raise UserError(too_big)
                arr = _pixels(img, channels)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(too_big) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserError(f"'{path}' is not a readable image ({type(e).__name__}); give PNG, JPEG or BMP files") from None
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)


def _pixels(img, channels: int) -> np.ndarray:
    """Float32 (H, W) or (H, W, 3) in [0, 1], scaled by the true maximum of the image's sample type."""
    if img.mode in _SIXTEEN_BIT or img.mode == "I":
        raw = np.asarray(img)
        top = 65535.0 if img.mode in _SIXTEEN_BIT or raw.max(initial=0) <= 65535 else 2.0**31 - 1
        gray = np.clip(raw.astype(np.float32) / top, 0, 1)
    elif img.mode == "F":
        gray = np.asarray(img, dtype=np.float32)
        if not np.isfinite(gray).all() or gray.min(initial=0) < 0 or gray.max(initial=0) > 1:
            raise ValueError("floating-point pixels outside [0, 1]")
    else:
        return np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
    return gray if channels == 1 else np.repeat(gray[..., None], 3, axis=2)


def load_images(path: Path, pre: dict[str, Any]) -> tuple[list[str], torch.Tensor]:
    files = _image_files(path)
    size, channels = pre["image_size"], pre["channels"]
    x = torch.stack([resize_images(read_image(f, channels).unsqueeze(0), size)[0] for f in files])
    return [str(f) for f in files], x


def read_csv_columns(path: Path, columns: list[str]) -> tuple[list[str], np.ndarray]:
    """The named numeric columns of a CSV file, as float32 (rows, columns); names the bad cell on error."""
    from dlnotes.data.files import numeric_columns, read_table

    header, rows = read_table(path, "--input")
    missing = [c for c in columns if c not in header]
    if missing:
        raise UserError(f"'{path}' lacks the feature column(s) {', '.join(missing)}; the model was trained on: "
                        f"{', '.join(columns)}")
    out = check_float32(numeric_columns(path, header, rows, columns), f"--input '{path}'")
    return [str(i) for i in range(len(out))], out


def _classify_rows(names, logits, classes, top_k, threshold) -> list[dict[str, Any]]:
    from dlnotes.engine.metrics import labels, probabilities

    probs = probabilities(logits)
    pred = labels(logits, threshold)
    k = min(max(top_k, 0), probs.shape[-1])
    top_p, top_i = probs.topk(k, dim=-1) if k > 1 else (None, None)
    rows = []
    for n, (name, c) in enumerate(zip(names, pred.tolist())):
        row = {"input": name, "prediction": classes[c], "probability": round(float(probs[n, c]), 6)}
        for r in range(1, k):
            row[f"top{r + 1}"] = classes[int(top_i[n, r])]
            row[f"top{r + 1}_probability"] = round(float(top_p[n, r]), 6)
        rows.append(row)
    return rows


def predict(run, inputs, top_k: int = 0, steps: int = 0, temperature: float = 0.8) -> list[dict[str, Any]]:
    from dlnotes.engine.checkpoint import unwrap
    from dlnotes.engine.evaluate import predict_outputs

    meta, pre = run.meta, run.meta["preprocess"]
    kind, task = meta["dataset"]["kind"], meta["dataset"]["task"]
    if kind in ("sequence", "text") and task in ("forecasting", "language"):
        from dlnotes.engine.forecast import predict_sequence

        return predict_sequence(run, inputs, steps=steps, temperature=temperature)
    path = Path(inputs)
    if kind == "image":
        names, x = load_images(path, pre)
    elif kind == "tabular":
        names, arr = read_csv_columns(path, meta["dataset"]["feature_names"])
        x = torch.from_numpy(arr)
    else:  # sequence classification
        from dlnotes.engine.forecast import read_sequences

        names, x = read_sequences(path, meta["dataset"]["input_shape"])
    x = normalize(x, pre)
    model = run.model
    out = predict_outputs(model, x, 256, run.device).cpu()
    if task == "classification":
        return _classify_rows(names, out, meta["dataset"]["classes"], top_k,
                              getattr(unwrap(model), "threshold", 0.5))
    values = denormalize_y(out, pre)
    return [{"input": n, "prediction": _num(v)} for n, v in zip(names, values.tolist())]


def _num(v):
    if isinstance(v, list):
        return ";".join(f"{x:.6g}" for x in v) if len(v) > 1 else f"{v[0]:.6g}"
    return f"{v:.6g}"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()
