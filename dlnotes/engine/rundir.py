"""The run directory: the one owner of every file a training run leaves behind.

    RUN/config.yaml  RUN/meta.json  RUN/history.csv  RUN/metrics.json  RUN/model.safetensors
    RUN/checkpoint/{manifest.json, model.safetensors, state.pt[, surface.pt]}  RUN/plots/*.png
    RUN/.lock        held (fcntl) by the one process that writes the run

A checkpoint is a commit, as in git's object store or SQLite: its files are written into a new
folder ``RUN/.checkpoint.tmp-*``, fsynced, the manifest (epoch, each file's sha256) written last;
the current ``checkpoint/`` is set aside (renamed, not deleted) and the new folder renamed to
``checkpoint/``. A folder with a manifest is complete, so after a kill at any moment the newest
folder with a manifest is a whole checkpoint, and the previous one exists until the new one is
complete. ``RUN/model.safetensors`` (the DESIGN contract) is a copy of the committed weights made
after the commit; if a kill leaves it one commit behind, readers recognise it by the manifest's
``previous_weights`` and read the committed weights instead. Anything else that does not match the
manifest's sha256 was changed after training and is refused.

No other module builds a path into a run directory or opens a file in it: they ask ``RunDir``.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from dlnotes.engine import checkpoint as ckpt
from dlnotes.engine.manifest import Manifest, read_manifest, read_meta
from dlnotes.errors import RunFailure, UserError

# Overrides that do not change the experiment, so --resume may take them (dotted prefixes).
RESUMABLE = ("train.epochs", "train.optimizer.lr", "train.early_stopping", "device", "train.tensorboard")


def _fault(step: str) -> None:
    """Called after every write of a checkpoint commit; tests replace it to kill the process there."""


def safe_name(name: str) -> str:
    """A config ``name`` as one file-name component: ``../../x`` -> ``x``, ``a/b c`` -> ``a_b_c``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:100] or "run"


def _alive(pid: str) -> bool:
    """Whether the process ``pid`` (as recorded in RUN/.lock) still exists; unknown counts as alive."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, OverflowError):
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class RunDir:
    CONFIG = "config.yaml"
    WEIGHTS = "model.safetensors"
    META = "meta.json"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    CHECKPOINT = "checkpoint"
    MANIFEST = "manifest.json"
    STATE = "state.pt"
    SURFACE = "surface.pt"
    PLOTS = "plots"
    TENSORBOARD = "tensorboard"
    LOCK = ".lock"
    _STAGE, _OLD = ".checkpoint.tmp-", ".checkpoint.old-"
    # what a restart of a never-checkpointed run may remove (nothing a user put there)
    _OURS = (CONFIG, WEIGHTS, META, HISTORY, METRICS, CHECKPOINT, PLOTS, TENSORBOARD)

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"RunDir('{self.path}')"

    # -- paths ------------------------------------------------------------------------------------
    def _file(self, *parts: str) -> Path:
        """A path inside the run; refuses one that goes through a symbolic link (writes never leave RUN)."""
        p = self.path
        for part in parts:
            p = p / part
            if p.is_symlink():
                raise UserError(f"'{p}' is a symbolic link; dlnotes does not write through links in a run "
                                "directory (remove the link)")
        return p

    @property
    def config_path(self) -> Path:
        return self._file(self.CONFIG)

    @property
    def plots_dir(self) -> Path:
        d = self._file(self.PLOTS)
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def tensorboard_dir(self) -> Path:
        return self._file(self.TENSORBOARD)

    # -- what the folder is -----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not run.path.exists():
            raise UserError(f"run directory '{run.path}' not found")
        if not run.path.is_dir():
            raise UserError(f"'{run.path}' is not a run directory")
        for name in (cls.CONFIG, cls.META):
            if not (run.path / name).is_file():
                raise UserError(f"'{run.path}' is not a dlnotes run: {name} is missing")
        return run

    def status(self) -> str:
        """``absent``, ``empty``, ``untrained`` (a run killed before its first checkpoint), ``trained``
        or ``foreign`` (a folder with files that are not a dlnotes run)."""
        if not os.path.lexists(self.path):
            return "absent"
        if not self.path.is_dir():
            return "foreign"
        names = {p.name for p in self.path.iterdir()} - {self.LOCK}
        if not names:
            return "empty"
        if not ((self.path / self.CONFIG).is_file() and (self.path / self.META).is_file()):
            return "foreign"
        if self.newest() is not None or self.WEIGHTS in names or self.METRICS in names \
                or (self.path / self.CHECKPOINT / "state.pt").exists():  # an older dlnotes' checkpoint
            return "trained"
        return "untrained"

    def claim(self, resume: bool = False) -> str:
        """Checks that a training may write here and takes the lock; returns the status it found.

        A new run (``resume=False``) goes into an absent or empty folder, or restarts a run that never
        reached its first checkpoint. Nothing is written before the checks pass.
        """
        status = self.status()
        if not resume:
            if self.path.resolve() == Path.cwd().resolve():
                raise UserError(f"--out '{self.path}' is the current folder; name a new folder for the run")
            if status == "foreign":
                raise UserError(f"--out '{self.path}' already holds files that are not a dlnotes run; "
                                "choose an empty or new folder")
            if status == "trained":
                raise UserError(f"--out '{self.path}' already holds a run; continue it with --resume "
                                f"{self.path} or choose another --out")
        elif status == "trained" and self.newest() is None:
            raise UserError(f"--resume {self.path}: the run has no checkpoint manifest (written by an older "
                            "dlnotes?); it cannot be resumed, start a new run")
        self.path.mkdir(parents=True, exist_ok=True)
        self.lock()
        again = self.status()  # another process may have written between the check and the lock
        if again != status and not (status == "absent" and again == "empty"):
            self.unlock()
            raise UserError(f"'{self.path}' changed while starting (another dlnotes process?); try again")
        if status == "untrained":
            print(f"note: '{self.path}' holds a run that never reached its first checkpoint; "
                  "restarting it from epoch 0", file=sys.stderr)
            self.reset()
        return status

    def reset(self) -> None:
        """Removes the files of a run that was never checkpointed (only names dlnotes writes)."""
        for p in self.path.iterdir():
            if p.name in self._OURS or p.name.startswith((self._STAGE, self._OLD)):
                _remove(p)

    # -- the lock ---------------------------------------------------------------------------------
    ORPHAN_WAIT_S = 15.0  # how long a lock held only by a dead writer's orphaned workers is waited for

    def lock(self) -> None:
        """One writer at a time: an exclusive ``flock`` on RUN/.lock, which also records the holder's PID."""
        if self._lock_fd is not None:
            return
        fd = os.open(self._file(self.LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.ORPHAN_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                # a writer killed outright (SIGKILL, out of memory) leaves DataLoader workers that forked
                # the lock's descriptor; they exit within seconds once they see their parent gone
                if _alive(holder) or time.monotonic() > deadline:
                    os.close(fd)
                    raise UserError(f"'{self.path}' is being written by another dlnotes process (PID {holder}); "
                                    "wait for it to finish or stop it") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def release(self) -> None:
        """Unlocks and removes the lock file (a refused new run leaves its empty folder as it was)."""
        self.unlock()
        self._file(self.LOCK).unlink(missing_ok=True)

    # -- meta.json, config.yaml, history, metrics -------------------------------------------------
    def meta(self) -> dict[str, Any]:
        path = self._file(self.META)
        return read_meta(ckpt.read_json(path), path)

    def write_meta(self, meta: dict[str, Any]) -> None:
        ckpt.write_json(self._file(self.META), meta)

    def write_config(self, text: str) -> None:
        ckpt.atomic_write(self._file(self.CONFIG), text)

    def read_metrics(self) -> dict[str, Any]:
        path = self._file(self.METRICS)
        return ckpt.read_json(path) if path.is_file() else {}

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        ckpt.write_json(self._file(self.METRICS), metrics)

    def clear_metrics(self) -> None:
        """A resumed run's old test metrics describe weights that are about to change."""
        path = self._file(self.METRICS)
        if path.is_file():
            path.unlink()

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        fields = list(rows[0])
        for row in rows[1:]:
            fields += [k for k in row if k not in fields]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in row.items()})
        ckpt.atomic_write(self._file(self.HISTORY), buf.getvalue())

    def read_history(self) -> list[dict[str, float]]:
        path = self._file(self.HISTORY)
        if not path.is_file():
            return []
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]
        except (UnicodeDecodeError, csv.Error) as e:
            raise UserError(f"'{path}' is not a readable history ({type(e).__name__})") from None
        for n, row in enumerate(rows, start=2):  # a damaged file: exit 2 naming the line, not a TypeError later
            bad = [k for k, v in row.items() if k is None or v is None or isinstance(v, (str, list)) and v]
            missing = [k for k in ("epoch", "train_loss") if k not in row]
            if bad or missing:
                what = f"lacks the column '{missing[0]}'" if missing else f"has {row[bad[0]]!r} in column {bad[0]!r}"
                raise UserError(f"'{path}' line {n} {what}; every value must be a number, one per column of "
                                "the header")
        return rows

    # -- checkpoints ------------------------------------------------------------------------------
    def _candidates(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return [p for p in self.path.iterdir() if p.is_dir() and not p.is_symlink()
                and (p.name == self.CHECKPOINT or p.name.startswith((self._STAGE, self._OLD)))]

    def newest(self) -> tuple[Path, Manifest] | None:
        """The newest complete checkpoint (a folder whose manifest, written last, exists)."""
        for _ in range(5):  # a writer's rename can move a folder while we look: look again
            best, moved = None, False
            for folder in self._candidates():
                path = folder / self.MANIFEST
                if not path.is_file():
                    moved |= not folder.exists()
                    continue  # a commit killed before its manifest: incomplete, ignored
                try:
                    manifest = read_manifest(ckpt.read_json(path), path)
                except UserError:
                    if path.exists():
                        raise
                    moved = True
                    continue
                key = (manifest.epoch, folder.name == self.CHECKPOINT)
                if best is None or key > best[0]:
                    best = (key, folder, manifest)
            if not moved:
                break
        return None if best is None else (best[1], best[2])

    def _committed(self) -> tuple[Path, Manifest]:
        found = self.newest()
        if found is None:
            raise UserError(f"'{self.path}' has no checkpoint: the run stopped before its first one; "
                            f"start it again with: dlnotes train --resume {self.path}")
        return found

    def epochs_completed(self) -> int | None:
        found = self.newest()
        return None if found is None else found[1].epoch

    def commit(self, model, state: dict[str, Any], extra: dict[str, dict] | None = None) -> None:
        """Writes one checkpoint (weights, state, manifest with sha256) as a single atomic step."""
        from safetensors.torch import save

        tensors = model if isinstance(model, dict) else ckpt.unwrap(model).state_dict()
        files = {self.WEIGHTS: save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}),
                 self.STATE: _torch_bytes(state)}
        for name, obj in (extra or {}).items():
            files[name] = _torch_bytes(obj)
        self._commit(files, int(state["epoch"]))

    def _commit(self, files: dict[str, bytes], epoch: int) -> None:
        previous = self.newest()
        stage = self._file(f"{self._STAGE}{epoch}-{uuid.uuid4().hex[:8]}")
        current = self._file(self.CHECKPOINT)
        needed = sum(map(len, files.values()))
        try:
            stage.mkdir()
            digests = {}
            for name, data in files.items():
                _write_new(stage / name, data)
                digests[name] = ckpt.sha256_bytes(data)
                _fault(f"write {name}")
            manifest = {"format": 1, "epoch": epoch, "files": digests,
                        "previous_weights": previous[1].files[self.WEIGHTS] if previous else None}
            _write_new(stage / self.MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
            ckpt.fsync_dir(stage)
            _fault("write manifest")
            if current.exists():
                os.rename(current, self._file(f"{self._OLD}{uuid.uuid4().hex[:8]}"))  # kept until replaced
                _fault("set aside the previous checkpoint")
            os.rename(stage, current)
            ckpt.fsync_dir(self.path)
            _fault("rename")
            for p in self._candidates():
                if p.name != self.CHECKPOINT:
                    _remove(p)
            _fault("remove the previous checkpoint")
            ckpt.atomic_write(self._file(self.WEIGHTS), files[self.WEIGHTS])  # the derived top-level copy
            _fault("copy the weights")
        except OSError as e:
            if stage.exists():  # not renamed yet: an unfinished commit, never a checkpoint
                _remove(stage)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                kept = f"the checkpoint of epoch {previous[1].epoch} is intact" if previous else "no checkpoint yet"
                raise RunFailure(f"disk full: could not write the checkpoint of epoch {epoch} into '{self.path}' "
                                 f"(it needs {needed / 1e6:.1f} MB, {ckpt._free_mb(self.path)} free); {kept}; "
                                 f"free some space and continue with: dlnotes train --resume {self.path}") from None
            raise

    def load_checkpoint(self, model) -> dict[str, Any]:
        """Loads the newest complete checkpoint's weights into ``model``; returns its training state."""
        folder, manifest = self._committed()
        ckpt.load_weights(model, folder / self.WEIGHTS, manifest.files[self.WEIGHTS])
        return ckpt.load_state(folder / self.STATE, manifest.files[self.STATE])

    def load_weights(self, model) -> None:
        """The run's weights for eval/predict: RUN/model.safetensors, checked against the manifest."""
        folder, manifest = self._committed()
        expected = manifest.files[self.WEIGHTS]
        top = self._file(self.WEIGHTS)
        path = folder / self.WEIGHTS
        if top.is_file():
            got = ckpt.sha256(top)
            if got == expected:
                path = top
            elif got != manifest.previous_weights:  # not a copy that an interrupted commit left behind
                raise UserError(f"'{top}' does not match the sha256 recorded in '{folder / self.MANIFEST}'; "
                                "the file was changed or replaced after training")
        ckpt.load_weights(model, path, expected)

    def sync_weights(self) -> None:
        """Brings RUN/model.safetensors up to the committed checkpoint (a kill can leave it one behind)."""
        folder, manifest = self._committed()
        top = self._file(self.WEIGHTS)
        if not top.is_file() or ckpt.sha256(top) != manifest.files[self.WEIGHTS]:
            data = (folder / self.WEIGHTS).read_bytes()
            if ckpt.sha256_bytes(data) == manifest.files[self.WEIGHTS]:
                ckpt.atomic_write(top, data)

    def read_extra(self, name: str) -> dict[str, Any] | None:
        """An extra file of the newest checkpoint (e.g. the grid solver's loss surface), or None."""
        found = self.newest()
        if found is None or name not in found[1].files:
            return None
        folder, manifest = found
        return ckpt.load_state(folder / name, manifest.files[name])

    def read_surface(self) -> dict[str, Any] | None:
        return self.read_extra(self.SURFACE)


def check_resume_overrides(before: dict[str, Any], after: dict[str, Any], path: Path) -> None:
    """Refuses a resume whose overrides change the experiment (anything but RESUMABLE)."""
    for key in sorted(set(_flat(before)) | set(_flat(after))):
        if _flat(before).get(key, "<unset>") != _flat(after).get(key, "<unset>") \
                and not any(key == r or key.startswith(r + ".") for r in RESUMABLE):
            raise UserError(f"--resume {path}: '{key}' changes the experiment and cannot change on resume "
                            f"(allowed: {', '.join(RESUMABLE)}, progress); start a new run instead: "
                            f"dlnotes train --config {path / RunDir.CONFIG} --out NEW_DIR {key}=...")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _torch_bytes(obj: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _write_new(path: Path, data: bytes) -> None:
    """Creates a new file (never through a link), writes it and fsyncs it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def _num(v: str) -> float | str:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v
