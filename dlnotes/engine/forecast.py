"""Applying sequence models: forecasting with roll-out, and generating text.

Forecasters read the last ``seq_len`` values of each series (``dlnotes.data.sequence_files``);
``--steps N`` feeds the forecasts back in until N future values exist. Language models continue a
prompt for ``--steps`` characters.
"""

from __future__ import annotations

from typing import Any

import torch

from dlnotes.inputs.text import ids as prompt_ids  # the prompt checked as the exported graph's inputs are


@torch.inference_mode()
def forecast(model, s: torch.Tensor, anchor: torch.Tensor, steps: int, pre: dict[str, Any], device) -> torch.Tensor:
    """Future values (N, steps) in the user's units; each forecast is fed back as input for the next.

    ``s`` (N, seq_len, 1) is the series' last seq_len values in the run's transformed units (diff, log,
    pct or none) and ``anchor`` (N,) the last observed value in the user's units. The roll-out runs in
    the transformed units and is inverted once at the end (``series_transform.in_user_units``' halves).
    """
    from dlnotes.data.series_transform import series_values, to_input, untransform

    model.eval()
    window = to_input(s[..., 0].double(), pre).to(device)
    outs, have = [], 0
    while have < steps:
        x = window.float()
        y = series_values(model(x).float(), x, pre)  # (N, horizon), transformed units
        outs.append(y)
        have += y.shape[1]
        window = torch.cat([window, to_input(y, pre).to(window.dtype)], dim=1)[:, -s.shape[1]:]
    return untransform(torch.cat(outs, dim=1)[:, :steps].cpu(), anchor.double(), pre.get("transform", "none"))


@torch.inference_mode()
def generate(model, prompt: str, vocab: list[str], steps: int, device, temperature: float = 0.8,
             seed: int = 0) -> str:
    """Continues ``prompt`` by ``steps`` characters, sampling softmax(logits / temperature) (0: greedy)."""
    model.eval()
    g = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.tensor([prompt_ids(prompt, vocab)], device=device)
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
