"""Checkpoints as commits: what ``--resume``, ``eval`` and ``predict`` read, written one atomic step at a time.

A checkpoint is a commit, as in git's object store or SQLite: its files are written into a new folder
``RUN/.checkpoint.tmp-*``, fsynced, the manifest (epoch, each file's sha256) written last; the current
``checkpoint/`` is set aside (renamed, not deleted) and the new folder renamed to ``checkpoint/``. A
folder with a manifest is complete, so after a kill at any moment the newest folder with a manifest is
a whole checkpoint, and the previous one exists until the new one is complete; ``recover`` (run by
the next writer, under the lock) finishes a commit a kill interrupted and removes the leftovers.
``RUN/model.safetensors`` (the DESIGN contract) is a copy of the committed weights made after the
commit; if a kill leaves it one commit behind, readers recognise it by the manifest's
``previous_weights`` and read the committed weights instead. Anything else that does not match the
manifest's sha256 was changed after training and is refused.

``Checkpoints`` is the part of ``RunDir`` that owns these folders.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from dlnotes import atomic
from dlnotes.engine.manifest import Manifest, read_manifest
from dlnotes.errors import RunFailure, UserError

STAGING = re.compile(r"\.checkpoint\.(tmp-\d+|old)-[0-9a-f]{8}")


class Checkpoints:
    WEIGHTS = "model.safetensors"
    CHECKPOINT = "checkpoint"
    MANIFEST = "manifest.json"
    STATE = "state.pt"
    SURFACE = "surface.pt"
    _STAGE, _OLD = ".checkpoint.tmp-", ".checkpoint.old-"
    path: Path

    def _file(self, *parts: str) -> Path:  # RunDir's: a path inside the run, never through a link
        raise NotImplementedError

    def record(self, *names: str) -> None:  # RunDir's: the ledger
        raise NotImplementedError

    @staticmethod
    def is_staging(name: str) -> bool:
        """A folder of an unfinished commit, or a previous checkpoint set aside (named by ``_commit``)."""
        return bool(STAGING.fullmatch(name))

    def _candidates(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return [p for p in self.path.iterdir() if p.is_dir() and not p.is_symlink()
                and (p.name == self.CHECKPOINT or self.is_staging(p.name))]

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
                    manifest = read_manifest(atomic.read_json(path), path)
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

    # -- writing ----------------------------------------------------------------------------------
    def commit(self, model, state: dict[str, Any], extra: dict[str, dict] | None = None) -> None:
        """Writes one checkpoint (weights, state, manifest with sha256) as a single atomic step."""
        from dlnotes.engine.weights import state_bytes, weights_bytes

        files = {self.WEIGHTS: weights_bytes(model), self.STATE: state_bytes(state)}
        for name, obj in (extra or {}).items():
            files[name] = state_bytes(obj)
        self._commit(files, int(state["epoch"]))

    def _commit(self, files: dict[str, bytes], epoch: int) -> None:
        previous = self.newest()
        stage = self._file(f"{self._STAGE}{epoch}-{uuid.uuid4().hex[:8]}")
        needed = sum(map(len, files.values()))
        self.record(self.CHECKPOINT, self.WEIGHTS)
        try:
            stage.mkdir()
            digests = {}
            for name, data in files.items():
                atomic.write_new(stage / name, data)
                digests[name] = atomic.sha256_bytes(data)
            manifest = {"format": 1, "epoch": epoch, "files": digests,
                        "previous_weights": previous[1].files[self.WEIGHTS] if previous else None}
            atomic.write_new(stage / self.MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
            atomic.fsync_dir(stage)
            self._promote(stage)
            self._tidy()
            atomic.atomic_write(self._file(self.WEIGHTS), files[self.WEIGHTS])  # the derived top-level copy
        except OSError as e:
            if stage.exists() and not (stage / self.MANIFEST).is_file():  # never a checkpoint
                atomic.remove(stage)
            if e.errno in atomic.FULL:
                kept = f"the checkpoint of epoch {previous[1].epoch} is intact" if previous else "no checkpoint yet"
                raise RunFailure(f"disk full: could not write the checkpoint of epoch {epoch} into '{self.path}' "
                                 f"(it needs {needed / 1e6:.1f} MB, {atomic.free_space(self.path)} free); {kept}; "
                                 f"free some space and continue with: dlnotes train --resume {self.path}") from None
            raise

    def _promote(self, folder: Path) -> None:
        """Makes a complete folder ``checkpoint/``; the current one is set aside, not deleted, until then."""
        current = self._file(self.CHECKPOINT)
        if current.exists():
            aside = self._file(f"{self._OLD}{uuid.uuid4().hex[:8]}")
            os.rename(current, aside)
            atomic.fault("rename", aside)
        os.rename(folder, current)
        atomic.fsync_dir(self.path)
        atomic.fault("rename", current)

    def _tidy(self) -> None:
        """Removes every folder but ``checkpoint/``: older checkpoints, commits a kill interrupted."""
        for p in self._candidates():
            if p.name != self.CHECKPOINT:
                atomic.remove(p)

    def recover(self) -> None:
        """Finishes what a kill interrupted (a complete commit not yet renamed, the top-level weights one
        commit behind) and removes the leftovers; run by the next writer, under the lock."""
        found = self.newest()
        if found is None:
            return
        folder, manifest = found
        if folder.name != self.CHECKPOINT:
            self._promote(folder)
        self._tidy()
        atomic.remove_temporaries(self.path)
        self.sync_weights()

    def sync_weights(self) -> None:
        """Brings RUN/model.safetensors up to the committed checkpoint (a kill can leave it one behind)."""
        folder, manifest = self._committed()
        top = self._file(self.WEIGHTS)
        if not top.is_file() or atomic.sha256(top) != manifest.files[self.WEIGHTS]:
            data = (folder / self.WEIGHTS).read_bytes()
            if atomic.sha256_bytes(data) == manifest.files[self.WEIGHTS]:
                atomic.atomic_write(top, data)

    # -- reading ----------------------------------------------------------------------------------
    def load_checkpoint(self, model) -> dict[str, Any]:
        """Loads the newest complete checkpoint's weights into ``model``; returns its training state."""
        from dlnotes.engine.weights import load_state, load_weights

        folder, manifest = self._committed()
        load_weights(model, folder / self.WEIGHTS, manifest.files[self.WEIGHTS])
        return load_state(folder / self.STATE, manifest.files[self.STATE])

    def read_state(self) -> dict[str, Any]:
        """The newest complete checkpoint's training state (epoch, history...), without the weights."""
        from dlnotes.engine.weights import load_state

        folder, manifest = self._committed()
        return load_state(folder / self.STATE, manifest.files[self.STATE])

    def load_weights(self, model) -> None:
        """The run's weights for eval/predict: RUN/model.safetensors, checked against the manifest."""
        from dlnotes.engine.weights import load_weights

        folder, manifest = self._committed()
        expected = manifest.files[self.WEIGHTS]
        top = self._file(self.WEIGHTS)
        path = folder / self.WEIGHTS
        if top.is_file():
            got = atomic.sha256(top)
            if got == expected:
                path = top
            elif got != manifest.previous_weights:  # not a copy that an interrupted commit left behind
                raise UserError(f"'{top}' does not match the sha256 recorded in '{folder / self.MANIFEST}'; "
                                "the file was changed or replaced after training")
        load_weights(model, path, expected)

    def read_extra(self, name: str) -> dict[str, Any] | None:
        """An extra file of the newest checkpoint (e.g. the grid solver's loss surface), or None."""
        from dlnotes.engine.weights import load_state

        found = self.newest()
        if found is None or name not in found[1].files:
            return None
        folder, manifest = found
        return load_state(folder / name, manifest.files[name])

    def read_surface(self) -> dict[str, Any] | None:
        return self.read_extra(self.SURFACE)
