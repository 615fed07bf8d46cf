"""dlnotes: the models of a deep-learning course as a model zoo and a training CLI.

    import dlnotes
    run = dlnotes.train("configs/lenet_digits.yaml")
    run.evaluate(); run.predict("digit.png")
"""

from dlnotes.version import __version__


def __getattr__(name):  # keep `import dlnotes` (and the CLI's start-up) free of torch
    if name in ("train", "Run"):
        from dlnotes import run

        return getattr(run, name)
    if name == "load_config":
        from dlnotes.config import load_config

        return load_config
    raise AttributeError(name)


__all__ = ["train", "Run", "load_config", "__version__"]
