"""Weights and training state as bytes and back, without running code.

Weights are safetensors (loading runs no code); other state is ``torch.save`` of plain tensors and
numbers, read back with ``torch.load(weights_only=True)``, which refuses any pickled object. A file
whose sha256 differs from the one recorded, weights of another shape, or non-finite weights are
refused with one line naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from dlnotes.atomic import sha256
from dlnotes.errors import UserError, path_note


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def weights_bytes(model: torch.nn.Module | dict[str, torch.Tensor]) -> bytes:
    """A module's (or a ready state dict's) tensors as safetensors bytes."""
    from safetensors.torch import save

    tensors = model if isinstance(model, dict) else unwrap(model).state_dict()
    return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})


def state_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def verify(path: Path, expected_sha: str | None) -> None:
    if not path.is_file():
        raise UserError(f"'{path}' not found{path_note(path)}; the run directory is incomplete")
    if expected_sha is not None and sha256(path) != expected_sha:
        raise UserError(f"'{path}' does not match the sha256 recorded in its checkpoint manifest; "
                        "the file was changed or replaced after training")


def load_weights(model: torch.nn.Module, path: str | Path, expected_sha: str | None = None) -> None:
    """Loads safetensors weights into ``model``; refuses another model's weights and non-finite values."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    verify(path, expected_sha)
    try:
        state = load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as e:
        raise UserError(f"'{path}' is not a valid safetensors weights file ({e})") from None
    for name, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise UserError(f"'{path}': the weights '{name}' hold NaN or infinite values; the training "
                            "diverged before this checkpoint or the file was edited")
    try:
        unwrap(model).load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise UserError(f"'{path}' holds weights of another model ({first})") from None


def load_state(path: str | Path, expected_sha: str | None = None) -> dict[str, Any]:
    """Loads training state without running code: ``weights_only=True`` refuses any pickled object."""
    import warnings

    path = Path(path)
    verify(path, expected_sha)
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the one line below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means "not our checkpoint"
        raise UserError(f"'{path}' is not a valid dlnotes checkpoint ({unreadable(e)})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise UserError(f"'{path}' is not a valid dlnotes checkpoint (no epoch recorded)")
    return state


def unreadable(e: Exception) -> str:
    """Why ``torch.load`` refused a file, in dlnotes' words: never torch's advice to retry with
    ``weights_only=False`` (which would run the file's code), nor its multi-line internals."""
    import pickle

    text = " ".join(str(e).split())
    if "global" in text.lower() or "safe_globals" in text:  # a class or function the file would import
        return "it holds Python objects, which dlnotes never unpickles"
    if isinstance(e, (EOFError, KeyError, pickle.UnpicklingError)) or "weights_only" in text.lower() \
            or "zip archive" in text or "central directory" in text:
        return "not a complete torch.save file of tensors and numbers: empty, cut short or of another format"
    return text.split(". ")[0][:160] or type(e).__name__
