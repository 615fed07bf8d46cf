import numpy as np
import torch

from dlnotes.config import validate
from dlnotes.data.prepare import prepare, split_indices


def test_stratified_split_keeps_class_shares_and_is_deterministic():
    labels = np.repeat(np.arange(4), [100, 50, 30, 20])
    keep, held = split_indices(len(labels), 0.2, seed=3, labels=labels)
    assert len(np.intersect1d(keep, held)) == 0 and len(keep) + len(held) == len(labels)
    assert np.bincount(labels[held]).tolist() == [20, 10, 6, 4]
    keep2, held2 = split_indices(len(labels), 0.2, seed=3, labels=labels)
    assert (held == held2).all()
    assert not (held == split_indices(len(labels), 0.2, seed=4, labels=labels)[1]).all()


def test_digits_pipeline_splits_and_normalises_from_train_only():
    cfg = validate({"data": {"name": "digits", "image_size": 12}, "model": {"name": "lenet"}})
    d = prepare(cfg)
    assert d.train.x.shape[1:] == (1, 12, 12)
    n = len(d.train) + len(d.val) + len(d.test)
    assert n == 1797 and abs(len(d.test) - 0.2 * 1797) <= 10
    # the training split is standardised with its own statistics
    assert abs(d.train.x.mean().item()) < 1e-4 and abs(d.train.x.std(unbiased=False).item() - 1) < 1e-4
    assert d.preprocess["kind"] == "image" and len(d.preprocess["x_mean"]) == 1
    raw = prepare(validate({"data": {"name": "digits", "image_size": 12, "standardize": False},
                            "model": {"name": "lenet"}}))
    assert 0 <= raw.train.x.min() and raw.train.x.max() <= 1
    mean = d.preprocess["x_mean"][0]
    assert abs(raw.train.x.mean().item() - mean) < 1e-5
    assert torch.equal(raw.test.y, d.test.y)


def test_digits_loader_equals_sklearn_load_digits():
    from sklearn.datasets import load_digits

    from dlnotes.data.embedded import _digits_images

    d = load_digits()
    x, y = _digits_images()
    assert torch.equal(x, torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1))
    assert torch.equal(y, torch.from_numpy(d.target.astype(np.int64)))
