"""Writing and reading the run directory's files safely.

Every write goes to a temporary file in the same folder, is fsynced, then renamed over the target,
so a crash, Ctrl-C or full disk never leaves a half-written file behind a good name. Weights are
safetensors (loading runs no code); other state is ``torch.save`` of plain tensors and numbers, read
back with ``torch.load(weights_only=True)``. A checkpoint's manifest records each file's sha256,
checked on load (``dlnotes.engine.rundir`` commits checkpoints). A full disk is a ``RunFailure`` that
names the file and the space it needed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import errno
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from dlnotes.errors import RunFailure, UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Writes ``data`` to ``path`` all or nothing: temp file, fsync, rename, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise RunFailure(f"disk full: could not write '{path}' (it needs {len(raw) / 1e6:.1f} MB, "
                             f"{_free_mb(path.parent)} free); the previous version of the file is intact") from None
        raise
    fsync_dir(path.parent)


def fsync_dir(path: str | Path) -> None:
    """Makes a rename or a new file in ``path`` durable."""
    try:
        dir_fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some filesystems cannot fsync a directory
        pass


def _free_mb(path: Path) -> str:
    try:
        return f"{shutil.disk_usage(path).free / 1e6:.1f} MB"
    except OSError:
        return "unknown space"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"'{path}' not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"'{path}' is not valid JSON ({e})") from None
    except RecursionError:  # json's parser recurses once per nested [ or {
        raise UserError(f"'{path}' is nested too deeply to be a dlnotes file") from None
    if not isinstance(obj, dict):
        raise UserError(f"'{path}' should hold a JSON object")
    return obj


def save_weights(model: torch.nn.Module | dict[str, torch.Tensor], path: str | Path,
                 metadata: dict[str, str] | None = None) -> None:
    """Writes a module's (or a ready state dict's) tensors as safetensors."""
    from safetensors.torch import save

    tensors = model if isinstance(model, dict) else unwrap(model).state_dict()
    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, save(state, metadata=metadata or {}))


def verify(path: Path, expected_sha: str | None) -> None:
    if not path.is_file():
        raise UserError(f"'{path}' not found; the run directory is incomplete")
    if expected_sha is not None and sha256(path) != expected_sha:
        raise UserError(f"'{path}' does not match the sha256 recorded in its checkpoint manifest; "
                        "the file was changed or replaced after training")


def load_weights(model: torch.nn.Module, path: str | Path, expected_sha: str | None = None) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    verify(path, expected_sha)
    try:
        state = load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as e:
        raise UserError(f"'{path}' is not a valid safetensors weights file ({e})") from None
    try:
        unwrap(model).load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise UserError(f"'{path}' holds weights of another model ({first})") from None


def save_state(state: dict[str, Any], path: str | Path) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def load_state(path: str | Path, expected_sha: str | None = None) -> dict[str, Any]:
    """Loads training state without running code: ``weights_only=True`` refuses any pickled object."""
    path = Path(path)
    verify(path, expected_sha)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means "not our checkpoint"
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UserError(f"'{path}' is not a valid dlnotes checkpoint ({reason})") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise UserError(f"'{path}' is not a valid dlnotes checkpoint (no epoch recorded)")
    return state


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model
