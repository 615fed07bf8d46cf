"""The schemas of the run directory's two self-descriptions, checked on every load.

``meta.json`` says what the run is (model and constructor arguments, dataset identity, the
preprocessing predict applies, versions); ``checkpoint/manifest.json`` says what one committed
checkpoint holds (its epoch and the sha256 of each of its files). Both are read back from files a
user can edit, so each load is validated with pydantic (the config's library already) and a bad
file is one ``UserError`` line naming the file and the field, never a ``KeyError`` deep in predict.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dlnotes.errors import UserError, did_you_mean

SHA256 = re.compile(r"^[0-9a-f]{64}$")
TASKS = ("classification", "regression", "forecasting", "language")
KINDS = ("image", "tabular", "sequence", "text")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class ModelMeta(_Strict):
    name: str
    args: dict[str, Any]

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        from dlnotes.registry import MODELS

        if name not in MODELS:
            raise ValueError(f"unknown model '{name}'{did_you_mean(name, MODELS.names())}")
        return name


class DatasetMeta(_Strict):
    name: str
    args: dict[str, Any]
    task: Literal[TASKS]
    kind: Literal[KINDS]
    input_shape: list[int]
    classes: list[str] | None = None
    feature_names: list[str] | None = None
    target_name: str | None = None
    sizes: dict[str, int] = Field(default_factory=dict)


class RunMeta(_Strict):
    model: ModelMeta
    dataset: DatasetMeta
    preprocess: dict[str, Any]
    seed: int = Field(ge=0)
    solver: str
    versions: dict[str, str] = Field(default_factory=dict)
    created: str = ""


class Manifest(_Strict):
    """One committed checkpoint: its epoch, and each file's sha256 (the files live beside it)."""

    format: Literal[1] = 1
    epoch: int = Field(ge=0)
    files: dict[str, str]
    previous_weights: str | None = None  # sha256 of the weights the commit before this one held

    @field_validator("files")
    @classmethod
    def _hashes(cls, files: dict[str, str]) -> dict[str, str]:
        for name, digest in files.items():
            if "/" in name or "\\" in name or name.startswith(".") or not SHA256.match(digest):
                raise ValueError(f"'{name}': expected a file name and a sha256 hex digest")
        for name in ("model.safetensors", "state.pt"):
            if name not in files:
                raise ValueError(f"'{name}' is not listed")
        return files


def _validate(schema: type[BaseModel], obj: dict, path: Path, what: str) -> Any:
    try:
        return schema.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        raise UserError(f"'{path}': {what} field '{field}': {msg}; the file was not written by this "
                        "version of dlnotes or was edited") from None


def read_meta(obj: dict, path: Path) -> dict[str, Any]:
    """Validates a loaded meta.json; returns it as a plain dict (unknown extra keys kept)."""
    from dlnotes.engine.meta_checks import MetaError, check_meta

    _validate(RunMeta, obj, path, "meta.json")
    try:
        check_meta(obj)  # the facts against the registry and each other (engine/meta_checks.py)
    except MetaError as e:
        raise UserError(f"'{path}': meta.json field '{e.field}': {e}; the file was not written by this "
                        "version of dlnotes or was edited") from None
    return obj


def read_manifest(obj: dict, path: Path) -> Manifest:
    return _validate(Manifest, obj, path, "checkpoint manifest")
