"""The model zoo. Each file is one family of the notes and ends with its registered constructors."""

from __future__ import annotations

from typing import Any

from dlnotes.errors import UserError
from dlnotes.registry import MODELS


def model_args(name: str, given: dict[str, Any], from_data: dict[str, int]) -> dict[str, Any]:
    """Constructor arguments: the config's keys, plus what the data determines (``num_classes``...).

    A key set in the config that contradicts the data (``num_classes: 5`` on ten classes) is an error.
    """
    params = MODELS.params(name)
    args = dict(given)
    for key, value in from_data.items():
        if key not in params:
            continue
        if key in args and key in ("num_classes", "in_channels", "input_size", "vocab_size", "in_features") \
                and args[key] != value and not (key == "num_classes" and value == 0):
            raise UserError(f"model.{key}: {args[key]} does not match the data, which has {key} = {value}")
        args.setdefault(key, value)
    return args


def build_model(name: str, args: dict[str, Any]):
    fn = MODELS.get(name, where="model.name")
    MODELS.check_args(name, args, where="model")  # also the values the data filled in, and meta.json's
    try:
        return fn(**args)
    except ValueError as e:
        raise UserError(f"model ({name}): {e}") from None
