"""A file appears whole or not at all: the one way dlnotes writes a file, and reads JSON back.

Every write goes to a temporary sibling, is fsynced, then renamed over the target and the folder
fsynced (SQLite's and git's rule: readers only ever see complete files), so a crash, Ctrl-C or a full
disk never leaves a half-written file behind a good name. A full disk is a ``RunFailure`` that names
the file and the space it needed, and says whether an earlier version of the file is still there.
JSON is written strictly (no NaN or Infinity, which are not JSON): non-finite numbers become null.

No torch here: exports, predictions and figures write through this module too.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dlnotes.errors import RunFailure, UserError, path_note


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()
FULL = (errno.ENOSPC, errno.EDQUOT)
TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")  # what atomic_write names its file before the rename


def fault(step: str, path: Path) -> None:
    """Called after every write, rename and removal; tests replace it to kill the process there, or to
    raise the error of a full disk."""


def is_temporary(name: str, owned: set[str] | None = None) -> bool:
    """Whether ``name`` is a temporary file of ``atomic_write`` (for one of the ``owned`` names, if given)."""
    m = TEMPORARY.fullmatch(name)
    return bool(m) and (owned is None or m.group(1) in owned)


def remove_temporaries(folder: Path) -> None:
    """Removes what interrupted ``atomic_write`` calls left in ``folder``."""
    for p in folder.iterdir():
        if is_temporary(p.name) and p.is_file():
            remove(p)


def remove(path: Path) -> None:
    """Removes a file or a folder (never following a link); a missing one is no error."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            return
    fault("remove", path)


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Writes ``data`` to ``path`` all or nothing: temp file, fsync, rename, fsync the folder."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    existed = path.exists()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        fault("write", path)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno in FULL:
            kept = "the previous version of the file is intact" if existed else "nothing was written"
            raise RunFailure(f"disk full: could not write '{path}' (it needs {len(raw) / 1e6:.1f} MB, "
                             f"{free_space(path.parent)} free); {kept}") from None
        raise
    fsync_dir(path.parent)
    fault("rename", path)


def write_new(path: str | Path, data: bytes) -> None:
    """Creates a new file (never through a link, never over an existing one), writes it and fsyncs it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fault("write", Path(path))


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


def free_space(path: str | Path) -> str:
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


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON's null), containers copied."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    """Strict JSON text: NaN and infinities become null (Python's json would write NaN, which is not JSON)."""
    return json.dumps(finite(obj), indent=indent, allow_nan=False)


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, dumps(obj, indent=2) + "\n")


def read_json(path: str | Path) -> dict:
    """A JSON object from ``path``; a missing, invalid or too deeply nested file is one ``UserError`` line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"'{path}' not found{path_note(path)}")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise UserError(f"'{path}' is not valid JSON ({e})") from None
    except RecursionError:  # json's parser recurses once per nested [ or {
        raise UserError(f"'{path}' is nested too deeply to be a dlnotes file") from None
    if not isinstance(obj, dict):
        raise UserError(f"'{path}' should hold a JSON object")
    return obj
