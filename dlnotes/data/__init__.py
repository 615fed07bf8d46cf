"""Datasets: each registered constructor returns in-memory tensors plus metadata (``Dataset``)."""

from dlnotes.data.base import Dataset  # noqa: F401
