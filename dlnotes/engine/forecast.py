"""Applying sequence models: forecasting with roll-out, and generating text.

Forecasters read the last ``seq_len`` values of each series (``dlnotes.data.sequence_files``);
``--steps N`` feeds the forecasts back in until N future values exist. Language models continue a
prompt for ``--steps`` characters.
"""

from __future__ import annotations

from typing import Any

import torch

from dlnotes.errors import UserError


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
