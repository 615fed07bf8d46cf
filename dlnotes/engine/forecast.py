"""Applying sequence models: reading raw sequences, forecasting (with roll-out) and generating text.

A sequence comes as ``.npy`` (1-D: one series; 2-D: one series per row; 3-D: (N, T, F)) or ``.csv``
(a column with a header: one series; for classifiers, each row of numbers is one sequence).
Forecasters read the last ``seq_len`` values of each series; ``--steps N`` feeds the forecasts back
in until N future values exist. Language models continue a prompt for ``--steps`` characters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlnotes.errors import UserError


MAX_VALUES = 50_000_000  # 200 MB of float32


def _load_array(path: Path, column: str | None = None) -> np.ndarray:
    """A finite float32 array from ``.npy`` (never unpickled) or ``.csv`` (with a header: one series per
    column, or just ``column``; numbers only: one sequence per row)."""
    from dlnotes.data.checks import check_float32, regular_file

    regular_file(path, "--input")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")  # the header first: shape and dtype
        except (ValueError, OSError, EOFError) as e:
            raise UserError(f"--input '{path}' is not a numeric .npy array ({e}); object arrays are refused") from None
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise UserError(f"--input '{path}' holds {arr.dtype} values; give real numbers")
        if arr.ndim == 0 or arr.size == 0:
            raise UserError(f"--input '{path}' holds {'a single number (0-d array)' if arr.ndim == 0 else 'no values'}; "
                            "give a sequence (1-D, 2-D or 3-D array)")
        if arr.ndim > 3 or arr.size > MAX_VALUES:
            raise UserError(f"--input '{path}' has shape {arr.shape}; give at most 3 dimensions and "
                            f"{MAX_VALUES:,} values")
        return check_float32(np.asarray(arr), f"--input '{path}'")
    if path.suffix.lower() == ".csv":
        from dlnotes.data.files import is_number, numeric_columns, read_rows, split_header

        rows = read_rows(path, "--input")
        if all(is_number(c) for c in rows[0] if c.strip()):  # numbers only: each row one sequence
            names = [str(i) for i in range(len(rows[0]))]
            for n, r in enumerate(rows, start=1):
                if len(r) != len(names):
                    raise UserError(f"--input '{path}' line {n} has {len(r)} values, line 1 has {len(names)}")
            return check_float32(numeric_columns(path, names, rows, names, first_line=1), f"--input '{path}'")
        header, rows = split_header(rows, path, "--input")
        columns = [column] if column in header else header
        return check_float32(numeric_columns(path, header, rows, columns), f"--input '{path}'").T  # a series each
    raise UserError(f"--input '{path}': give a .npy or .csv sequence file")


def read_sequences(path, input_shape: list[int]) -> tuple[list[str], torch.Tensor]:
    """Sequences for a classifier trained on (T, F) inputs: (N, T, F), each exactly T steps long."""
    path = Path(path)
    arr = _load_array(path)
    t, f = input_shape[0], input_shape[-1]
    if arr.ndim == 3 or (arr.ndim == 2 and arr.shape == (t, f) and f > 1):
        arr = arr.reshape(-1, *arr.shape[-2:])
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2:
        if arr.shape[1] != t * f and arr.shape[0] == t * f and f == 1:
            arr = arr.T  # one series written as a column
        if arr.shape[1] != t * f:
            raise UserError(f"--input '{path}': a sequence of {arr.shape[1]} values, but the model reads "
                            f"{t} steps x {f} features = {t * f} values per sequence")
        arr = arr.reshape(-1, t, f)
    if tuple(arr.shape[1:]) != (t, f):
        raise UserError(f"--input '{path}': sequences of shape {tuple(arr.shape[1:])}, the model reads ({t}, {f})")
    return [f"{path.name}:{i}" for i in range(len(arr))], torch.from_numpy(np.ascontiguousarray(arr))


def _series(path: Path, seq_len: int, column: str | None) -> tuple[list[str], torch.Tensor]:
    arr = _load_array(path, column)
    if arr.ndim == 3:
        arr = arr[..., 0]
    arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
    if arr.shape[1] < seq_len:
        raise UserError(f"--input '{path}': a sequence of {arr.shape[1]} values is too short; the model "
                        f"reads the last {seq_len} values")
    x = torch.from_numpy(np.ascontiguousarray(arr[:, -seq_len:])).unsqueeze(-1)
    names = [path.name] if len(arr) == 1 else [f"{path.name}:{i}" for i in range(len(arr))]
    return names, x


@torch.inference_mode()
def forecast(model, x: torch.Tensor, steps: int, pre: dict[str, Any], device) -> torch.Tensor:
    """Future values (N, steps) in the data's units; each forecast is fed back as input for the next."""
    from dlnotes.data.prepare import denormalize_y, normalize

    model.eval()
    window = normalize(x, pre).to(device)
    outs, have = [], 0
    while have < steps:
        y = model(window).float()  # (N, horizon), normalised units
        outs.append(y)
        have += y.shape[1]
        window = torch.cat([window[:, y.shape[1]:], y.unsqueeze(-1).to(window.dtype)], dim=1)[:, -x.shape[1]:]
    return denormalize_y(torch.cat(outs, dim=1)[:, :steps], pre).cpu()


@torch.inference_mode()
def generate(model, prompt: str, vocab: list[str], steps: int, device, temperature: float = 0.8,
             seed: int = 0) -> str:
    """Continues ``prompt`` by ``steps`` characters, sampling softmax(logits / temperature) (0: greedy)."""
    index = {c: i for i, c in enumerate(vocab)}
    unknown = sorted({c for c in prompt if c not in index})
    if unknown:
        raise UserError(f"--input: the characters {''.join(repr(c) for c in unknown)} never occur in the "
                        f"training text; the model knows {len(vocab)} characters")
    if not prompt:
        raise UserError("--input: give a prompt of at least one character to continue")
    model.eval()
    g = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.tensor([[index[c] for c in prompt]], device=device)
    out = []
    for _ in range(steps):  # the whole context each step: simple, and fast enough at character scale
        logits = model(ids[:, -512:])[0, -1].float().cpu()
        if temperature <= 0:
            nxt = int(logits.argmax())
        else:
            nxt = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=g))
        out.append(vocab[nxt])
        ids = torch.cat([ids, torch.tensor([[nxt]], device=device)], dim=1)
    return "".join(out)


def predict_sequence(run, inputs, steps: int = 0, temperature: float = 0.8) -> list[dict[str, Any]]:
    meta, pre = run.meta, run.meta["preprocess"]
    model = run.model
    if meta["dataset"]["task"] == "language":
        text = generate(model, str(inputs), pre["vocab"], steps or 200, run.device, temperature, run.config.seed)
        return [{"input": str(inputs), "prediction": text}]
    names, x = _series(Path(inputs), meta["dataset"]["input_shape"][0], pre.get("column"))
    steps = steps or pre.get("horizon", 1)
    values = forecast(model, x, steps, pre, run.device)
    return [{"input": n, "step": k + 1, "prediction": f"{float(v):.6g}"}
            for n, row in zip(names, values) for k, v in enumerate(row)]
