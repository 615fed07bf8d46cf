"""A run's data paths made absolute when it starts, so that the run works from any folder.

A config names files relative to the folder it is run from (``data.path: examples/penguins.csv``). A run
records its data paths absolute (in ``RUN/config.yaml`` and ``meta.json``), so ``dlnotes eval --run RUN``,
``dlnotes train --config RUN/config.yaml`` and ``Run.load(RUN).evaluate()`` find the same files from
anywhere. A data key is a path when its name is ``path`` or ``root`` or ends in ``_path`` or ``_root``
(csv's ``path``/``train_path``/``test_path``, ``timeseries_csv`` and ``text``'s ``path``, the image
datasets' ``root`` and ``test_root``); its default counts too (``mnist``'s ``root: data``).
"""

from __future__ import annotations

import os
from pathlib import Path


def is_path_key(name: str) -> bool:
    return name in ("path", "root") or name.endswith(("_path", "_root"))


def absolute(cfg, cwd: str | Path | None = None):
    """``cfg`` with every data path that is relative resolved against ``cwd`` (default: the working
    directory); the same object when there is nothing to resolve."""
    from dlnotes.config import validate
    from dlnotes.registry import DATASETS, REQUIRED

    given = cfg.extras("data")
    base = Path(cwd) if cwd is not None else Path(os.getcwd())
    changed = {}
    for key, param in DATASETS.params(cfg.data.name).items():
        value = given.get(key, None if param.default is REQUIRED else param.default)
        if is_path_key(key) and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            changed[key] = os.path.abspath(os.path.join(base, value))
    if not changed:
        return cfg
    d = cfg.to_dict()
    d["data"].update(changed)
    return validate(d)
