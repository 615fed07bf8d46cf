"""Finding good settings before and across trainings: the learning-rate range test (``lr_find``) and
sweeps over a search space (``space``, ``study``, ``sweep``). They sit above the engine and train only
through it (``dlnotes.run``, ``dlnotes.engine.trainer``); the CLI's ``lr-find`` and ``sweep`` call them."""
