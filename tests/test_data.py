import numpy as np
import torch

from dlnotes.config import validate
from dlnotes.collect import load_data
from dlnotes.data.sampling import split_indices


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
    d = load_data(cfg)
    assert d.train.x.shape[1:] == (1, 12, 12)
    n = len(d.train) + len(d.val) + len(d.test)
    assert n == 1797 and abs(len(d.test) - 0.2 * 1797) <= 10
    # the training split is standardised with its own statistics
    assert abs(d.train.x.mean().item()) < 1e-4 and abs(d.train.x.std(unbiased=False).item() - 1) < 1e-4
    assert d.preprocess["kind"] == "image" and len(d.preprocess["x_mean"]) == 1
    raw = load_data(validate({"data": {"name": "digits", "image_size": 12, "standardize": False},
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


def test_chunked_statistics_equal_a_float64_reference():
    from dlnotes.data.prepare import stats

    g = torch.Generator().manual_seed(0)
    cases = [(torch.randn(500, 3, 4, 4, generator=g) * 3 + 100, "image", [0, 2, 3]),
             (torch.randn(700, 5, generator=g) * 0.01 + 1000, "tabular", [0]),
             (torch.randn(300, 20, 1, generator=g) + 5, "sequence", [0, 1, 2])]
    for x, kind, dims in cases:
        mean, std = stats(x, dims, chunk=64)  # many chunks, the last one partial
        x64 = x.double()
        assert torch.allclose(mean.double(), x64.mean(dims), rtol=1e-7, atol=0)
        assert torch.allclose(std.double(), x64.std(dims, unbiased=False), rtol=1e-6, atol=0)
    _, std = stats(torch.full((10, 2), 3.0), [0])
    assert std.tolist() == [1.0, 1.0]  # a constant column is left as it is


def test_synthetic_linear_does_not_depend_on_the_thread_count():
    from dlnotes.data.synthetic import synthetic_linear

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = synthetic_linear(n_samples=70_000, n_features=3, seed=5)
        torch.set_num_threads(2)
        two = synthetic_linear(n_samples=70_000, n_features=3, seed=5)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one.x, two.x) and torch.equal(one.y, two.y) and one.x.dtype == torch.float32
    assert -5 <= one.x.min() and one.x.max() <= 5
    resid = one.y - (3 * one.x.sum(1, keepdim=True) + 2)
    assert abs(resid.mean().item()) < 0.02 and abs(resid.std().item() - 1) < 0.02
