"""The run directory: the one owner of every file a training run leaves behind.

    RUN/.dlnotes     the ledger: written first, it lists every name dlnotes has written here
    RUN/config.yaml  RUN/meta.json  RUN/history.csv  RUN/metrics.json  RUN/model.safetensors
    RUN/checkpoint/  committed checkpoints (``dlnotes.engine.checkpoints``)  RUN/plots/*.png
    RUN/explain/<input>/  ``dlnotes explain``: figures and explain.npz for one input
    RUN/.lock        held (fcntl) by the one process that writes the run

Ownership. A new run writes the ledger before anything else, and records each name in it before
writing that name. Only what the ledger lists is ever removed (restarting a run that never reached
its first checkpoint, or taking back a refused new run); a folder that holds anything else is not
dlnotes' to change, and is refused with one line naming the first stranger, byte for byte untouched.

Starting. ``begin(resume)`` is the one place that decides whether a training may write here: a new run
goes into an absent or empty folder, or restarts a run that never reached a checkpoint; a resume needs a
committed checkpoint, finishes a commit that a kill interrupted and clears its leftovers. Every write,
rename and removal goes through ``dlnotes.atomic`` and reports itself to ``atomic.fault`` (tests kill
the process there, or fill the disk).

No other module builds a path into a run directory or opens a file in it: they ask ``RunDir``.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from dlnotes import atomic
from dlnotes.engine.checkpoints import Checkpoints
from dlnotes.engine.manifest import read_meta
from dlnotes.errors import UserError


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


class RunDir(Checkpoints):
    CONFIG = "config.yaml"
    META = "meta.json"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    PLOTS = "plots"
    TENSORBOARD = "tensorboard"
    LOCK = ".lock"
    LEDGER = ".dlnotes"

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
        if not d.is_dir():
            self.record(self.PLOTS)
            d.mkdir(exist_ok=True)
        atomic.remove_temporaries(d)  # a figure whose write a kill interrupted
        return d

    @property
    def tensorboard_dir(self) -> Path:
        self.record(self.TENSORBOARD)
        return self._file(self.TENSORBOARD)

    EXPLAIN = "explain"
    RESERVED = (CONFIG, META, HISTORY, METRICS, PLOTS, TENSORBOARD, LOCK, LEDGER, EXPLAIN,
                Checkpoints.WEIGHTS, Checkpoints.CHECKPOINT)

    def owns(self, target: Path) -> bool:
        """Whether ``target`` (a resolved path) is one of this run's own files or names, which no output
        may replace: what dlnotes writes in a run (listed or not yet written), its checkpoints."""
        root = Path(os.path.realpath(self.path))
        try:
            first = target.relative_to(root).parts[0]
        except (ValueError, IndexError):
            return False
        return first in self.RESERVED or first in (self.recorded() or []) or self.is_staging(first)

    def explain_dir(self, name: str) -> Path:
        """RUN/explain/<name>/ (``name`` made one file-name component), made when missing; the ledger lists
        ``explain`` first. A RUN/explain that dlnotes did not make is the user's: refused, left untouched."""
        top = self._file(self.EXPLAIN)
        if os.path.lexists(top) and self.EXPLAIN not in (self.recorded() or []):
            raise UserError(f"'{top}' was not made by dlnotes; move it away to explain inputs of this run")
        self.record(self.EXPLAIN)
        top.mkdir(exist_ok=True)
        d = self._file(self.EXPLAIN, safe_name(name))
        d.mkdir(exist_ok=True)
        atomic.remove_temporaries(d)  # a figure whose write a kill interrupted
        return d

    # -- the ledger -------------------------------------------------------------------------------
    def recorded(self) -> list[str] | None:
        """The names the ledger lists, or None when there is no ledger (a folder dlnotes did not start)."""
        path = self.path / self.LEDGER  # read each time: another RunDir of this run may have added a name
        if not path.is_file() or path.is_symlink():
            return None
        obj = atomic.read_json(path)
        names = obj.get("files")
        if obj.get("format") != 1 or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise UserError(f"'{path}' is not a dlnotes ledger (format 1, files: [names])")
        return names

    def record(self, *names: str) -> None:
        """Adds ``names`` (top-level entries of the run) to the ledger before they are written."""
        known = self.recorded() or []
        new = [n for n in names if n not in known]
        if new:
            self._write_ledger(known + new)

    def _write_ledger(self, names: list[str]) -> None:
        atomic.write_json(self._file(self.LEDGER), {"format": 1, "files": names})

    # -- what the folder is -----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run (it has a committed checkpoint, or a ledger and its config)."""
        run = cls(path)
        if not run.path.exists():
            raise UserError(f"run directory '{run.path}' not found{_relative(run.path)}")
        if not run.path.is_dir():
            raise UserError(f"'{run.path}' is not a run directory")
        if run.newest() is None and run.recorded() is None:
            has = "" if (run.path / cls.CONFIG).is_file() else f"no {cls.CONFIG}, "
            raise UserError(f"'{run.path}' is not a dlnotes run: it has {has}no checkpoint and no {cls.LEDGER} ledger")
        for name in (cls.CONFIG, cls.META) if run.newest() is not None else ():  # else: never checkpointed
            if not (run.path / name).is_file():
                raise UserError(f"'{run.path}' is not a complete dlnotes run: {name} is missing")
        return run

    def status(self) -> str:
        """``absent``, ``empty``, ``untrained`` (a run dlnotes started that never reached its first
        checkpoint, holding only what its ledger lists), ``trained`` (a committed checkpoint), or
        ``foreign`` (anything else: never written by this process)."""
        if not os.path.lexists(self.path):
            return "absent"
        if not self.path.is_dir() or self.path.is_symlink():
            return "foreign"
        names = {p.name for p in self.path.iterdir()} - {self.LOCK}
        if not {n for n in names if not atomic.is_temporary(n, {self.LEDGER})}:  # a first ledger write killed
            return "empty"
        if self.newest() is not None:
            return "trained"
        return "untrained" if self.recorded() is not None and not self.strangers() else "foreign"

    def strangers(self) -> list[str]:
        """Entries of the run directory that its ledger does not list (and are not its own bookkeeping)."""
        ours = set(self.recorded() or []) | {self.LEDGER, self.LOCK}
        out = []
        for p in sorted(self.path.iterdir()):
            if p.name in ours or atomic.is_temporary(p.name, ours) or self.is_staging(p.name):
                continue
            out.append(p.name)
        return out

    def begin(self, resume: bool = False) -> str:
        """Decides whether a training may write here, takes the lock, and returns the status it found.

        New run: an absent or empty folder (the ledger is written first), or a run that never reached
        its first checkpoint (what its ledger lists is removed, and it starts again). Resume: a run with
        a committed checkpoint (an interrupted commit is finished, leftovers removed), or one that never
        reached it (started again). Anything else is refused before anything is written.
        """
        status = self.status()
        self._refuse(status, resume)
        self.path.mkdir(parents=True, exist_ok=True)
        self.lock()
        try:
            self._start(status)
        except BaseException:
            self.unlock()
            raise
        return status

    def _start(self, status: str) -> None:
        again = self.status()  # another process may have written between the check and the lock
        if again != status and not (status == "absent" and again == "empty"):
            raise UserError(f"'{self.path}' changed while starting (another dlnotes process?); try again")
        if status == "untrained":
            print(f"note: '{self.path}' holds a run that never reached its first checkpoint; "
                  "restarting it from epoch 0", file=sys.stderr)
            self.reset()
        if status in ("absent", "empty"):
            atomic.remove_temporaries(self.path)
            self._write_ledger([])  # first: from now on each name is listed here before it is written
        if status == "trained":
            self.recover()

    def _refuse(self, status: str, resume: bool) -> None:
        where = f"--resume {self.path}" if resume else f"--out '{self.path}'"
        if status == "foreign":
            first = self.strangers()[:1] if self.path.is_dir() and self.recorded() is not None else []
            why = f" ('{first[0]}' was not written by dlnotes)" if first else ""
            raise UserError(f"{where}: the folder holds files that are not a dlnotes run{why}; "
                            "choose an empty or new folder" + ("" if resume else " for --out"))
        if resume and status in ("absent", "empty"):
            raise UserError(f"{where}: there is no run there to continue")
        if not resume:
            if self.path.resolve() == Path.cwd().resolve():
                raise UserError(f"--out '{self.path}' is the current folder; name a new folder for the run")
            if status == "trained":
                raise UserError(f"--out '{self.path}' already holds a run; continue it with --resume "
                                f"{self.path} or choose another --out")

    def reset(self) -> None:
        """Removes what the ledger lists (a run that never reached its first checkpoint); the ledger stays."""
        owned = set(self.recorded() or []) | {self.LEDGER}
        for name in self.recorded() or []:
            atomic.remove(self._file(name))
        for p in self.path.iterdir():
            if self.is_staging(p.name) or atomic.is_temporary(p.name, owned):
                atomic.remove(p)

    def abandon(self, status: str) -> None:
        """Takes back a new run refused before its first checkpoint: the folder is left as it was found."""
        if status not in ("absent", "empty") or self.newest() is not None:
            return
        owned = set(self.recorded() or []) | {self.LEDGER}
        for name in reversed(self.recorded() or []):
            atomic.remove(self._file(name))
        for p in self.path.iterdir():
            if self.is_staging(p.name) or atomic.is_temporary(p.name, owned):
                atomic.remove(p)
        atomic.remove(self._file(self.LEDGER))
        self.release()
        if status == "absent":
            try:
                self.path.rmdir()
            except OSError:  # something appeared that is not ours: leave it
                pass

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
        """Unlocks and removes the lock file."""
        self.unlock()
        self._file(self.LOCK).unlink(missing_ok=True)

    # -- meta.json, config.yaml, history, metrics -------------------------------------------------
    def _write(self, name: str, data: bytes | str) -> None:
        self.record(name)
        atomic.atomic_write(self._file(name), data)

    def meta(self) -> dict[str, Any]:
        path = self._file(self.META)
        return read_meta(atomic.read_json(path), path)

    def write_meta(self, meta: dict[str, Any]) -> None:
        self._write(self.META, atomic.dumps(meta, indent=2) + "\n")

    def write_config(self, text: str) -> None:
        self._write(self.CONFIG, text)

    def read_metrics(self) -> dict[str, Any]:
        path = self._file(self.METRICS)
        return atomic.read_json(path) if path.is_file() else {}

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        self._write(self.METRICS, atomic.dumps(metrics, indent=2) + "\n")

    def clear_metrics(self) -> None:
        """A resumed run's old test metrics describe weights that are about to change."""
        path = self._file(self.METRICS)
        if path.is_file():
            atomic.remove(path)

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
        self._write(self.HISTORY, buf.getvalue())

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


def _relative(path: Path) -> str:
    return "" if path.is_absolute() else f" (relative to the working directory {os.getcwd()})"


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def _num(v: str) -> float | str:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v
