"""Datasets: each registered constructor returns in-memory tensors plus metadata (``Dataset``).

Importing ``dlnotes.data`` itself imports nothing heavy: the numpy + Pillow modules (``pixels``, ``views``,
``digit_photos``) load without torch, for ``dlnotes.inputs.prepare``.
"""


def __getattr__(name):
    if name == "Dataset":
        from dlnotes.data.base import Dataset

        return Dataset
    raise AttributeError(name)
