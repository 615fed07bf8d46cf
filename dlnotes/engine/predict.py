"""Applying a trained model to raw inputs, with exactly the preprocessing recorded in meta.json.

Images: a file or a folder of PNG/JPEG/BMP files, any size, colour or gray; converted to the model's
channels, resized, scaled to [0, 1] and normalised. Tables: a CSV with the training feature columns.
Sequences: a .npy or .csv of values. Text: a prompt to continue.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlnotes.data.base import resize_images
from dlnotes.data.prepare import denormalize_y, normalize
from dlnotes.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _image_files(path: Path) -> list[Path]:
    if not path.exists():
        raise UserError(f"--input '{path}' not found")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise UserError(f"--input '{path}' holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    return [path]


def read_image(path: Path, channels: int) -> torch.Tensor:
    """One image file as float (C, H, W) in [0, 1], converted to gray (C = 1) or RGB (C = 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"'{path}' is not a readable image ({type(e).__name__}); give PNG, JPEG or BMP files") from None
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)


def load_images(path: Path, pre: dict[str, Any]) -> tuple[list[str], torch.Tensor]:
    files = _image_files(path)
    size, channels = pre["image_size"], pre["channels"]
    if pre.get("recipe", "none") != "none":  # a streamed run's test view: short side, central crop(s)
        from dlnotes.data.stream import decode_file
        from dlnotes.data.transforms import ImageTransform

        view = ImageTransform(size, pre["recipe"], ten_crop=pre.get("ten_crop", False))
        return [str(f) for f in files], torch.stack([view(decode_file(str(f), channels)) for f in files])
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
    out = numeric_columns(path, header, rows, columns).astype(np.float32)
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
