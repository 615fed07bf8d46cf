"""A language model's inputs: a prompt's last ``seq_len`` characters as indices into the training text's vocabulary.

The graph (``dlnotes.export.text``) answers the probabilities of the next character; sampling a
continuation repeats it, one character at a time, on the window moved by one. The window is the run's
``seq_len`` (the length it trained on): torch.export and the scratch recurrent cells cannot leave the
number of steps free, so every format takes that fixed length.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlnotes.errors import UserError


def contract(meta: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "ids", "dtype": "int64", "shape": ["N", int(meta["dataset"]["input_shape"][0])]}]


def ids(prompt: str, vocab: list[str]) -> list[int]:
    """The prompt's characters as vocabulary indices; refuses characters the training text never held."""
    index = {c: i for i, c in enumerate(vocab)}
    unknown = sorted({c for c in prompt if c not in index})
    if unknown:
        raise UserError(f"--input: the characters {''.join(repr(c) for c in unknown)} never occur in the "
                        f"training text; the model knows {len(vocab)} characters")
    if not prompt:
        raise UserError("--input: give a prompt of at least one character to continue")
    return [index[c] for c in prompt]


def read(meta: dict[str, Any], inputs) -> tuple[list[str], dict[str, np.ndarray]]:
    prompts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise UserError("--input: a language model reads a prompt (a string) or a list of prompts")
    window = int(meta["dataset"]["input_shape"][0])
    short = [p for p in prompts if len(p) < window]
    if short:
        raise UserError(f"--input: the exported language model reads the last {window} characters (the run's "
                        f"seq_len); '{short[0]}' has {len(short[0])}")
    vocab = meta["preprocess"]["vocab"]
    return prompts, {"ids": np.array([ids(p[-window:], vocab) for p in prompts], dtype=np.int64)}
