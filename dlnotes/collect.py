"""The collect step's data: a config's dataset, split and normalised, with its task and input kind.

This is the one place where a dataset's task and input kind are looked up by name; everything below
(``data/``, ``engine/``, ``nn/``) is handed the objects through ``Prepared.task`` and ``Prepared.kind``.
"""

from __future__ import annotations

from typing import Any


def load_data(cfg, recorded: dict[str, Any] | None = None, quiet: bool = False):
    """The data of ``cfg`` as ``Prepared`` splits; the one place where a dataset's task and input kind
    are looked up by name. ``recorded``: a run's meta.json preprocessing (spares a statistics pass);
    ``quiet`` silences the statistics pass's line."""
    from dlnotes.data.kinds import input_kind
    from dlnotes.data.prepare import build_dataset, prepare
    from dlnotes.registry import MODELS
    from dlnotes.tasks import get_task

    ds = build_dataset(cfg)
    params = MODELS.params(cfg.model.name)
    embed = cfg.extras("model").get("embed_categories", params["embed_categories"].default) \
        if "embed_categories" in params else "none"  # models that learn embeddings of categories (mlp)
    return prepare(ds, cfg, get_task(ds.task), input_kind(ds.kind), recorded, embed, quiet)
