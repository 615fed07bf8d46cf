"""Language models: per-step cross-entropy over characters; accuracy, perplexity; a sampled continuation."""

from __future__ import annotations

import torch

from dlnotes.tasks.base import Task


class Language(Task):
    name, loss = "language", "cross_entropy"
    metric, higher_is_better = "accuracy", True
    shown = ("accuracy", "perplexity", "loss")
    losses, model_keys, column_types = ("cross_entropy",), ("vocab_size",), ()

    def describe(self, ds):
        return "the data is text (each next character is predicted)"
    plain_text = True  # a continuation is read, not parsed: printed as it is, line breaks and all

    def metrics(self, out, y, pre, num_classes, threshold, loss):
        return {"accuracy": (out.argmax(-1) == y).double().mean().item(),
                "perplexity": float(torch.exp(torch.tensor(loss)))}

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8, probabilities=False):
        """One row per prompt (a string, or a list of them): the prompt and ``steps`` (default 200) characters
        sampled after it with ``spec.seed``."""
        from dlnotes.engine.forecast import generate

        prompts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        return [{"input": str(p), "prediction": generate(model, str(p), spec.pre["vocab"], steps or 200, device,
                                                         temperature, spec.seed)} for p in prompts]
