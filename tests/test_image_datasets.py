"""Image datasets from tiny files of the real formats, written on the spot (never downloaded)."""

import gzip

import numpy as np
import pytest
from PIL import Image

from dlnotes.config import validate
from dlnotes.collect import load_data
from dlnotes.errors import UserError


def write_idx(path, array, gz=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.fixture
def mnist_root(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        labels = np.arange(n) % 10
        images = np.zeros((n, 28, 28), np.uint8)
        for i, c in enumerate(labels):  # class c: a bright bar at row 2c
            images[i, 2 * c + 3: 2 * c + 6, 4:24] = 200 + rng.integers(0, 55)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_mnist_reads_gzipped_idx(mnist_root):
    cfg = validate({"data": {"name": "mnist", "root": str(mnist_root), "val_fraction": 0.0},
                    "model": {"name": "lenet"}})
    d = load_data(cfg)
    assert d.train.x.shape == (60, 1, 28, 28) and d.test.x.shape == (20, 1, 28, 28)
    assert d.dataset.classes == [str(i) for i in range(10)]
    assert d.train.y.tolist()[:10] == list(range(10))


def test_lenet_mnist_trains_from_idx_files(mnist_root, tmp_path, cli, in_process):
    r = in_process("train", "--config", "configs/lenet_mnist.yaml", "--out", tmp_path / "run", "-q",
            f"data.root={mnist_root}", "train.epochs=15", "data.batch_size=16", "data.val_fraction=0")
    assert r.returncode == 0, r.stderr
    assert "accuracy=1.0000" in r.stdout


def test_missing_idx_names_the_file_and_the_flag(tmp_path, cli, in_process):
    r = in_process("train", "--config", "configs/lenet_mnist.yaml", "--out", tmp_path / "run", f"data.root={tmp_path}")
    assert r.returncode == 2
    assert "train-images-idx3-ubyte" in r.stderr and "data.download: true" in r.stderr
    assert not (tmp_path / "run").exists()


def test_truncated_idx_is_refused(mnist_root):
    p = mnist_root / "t10k-images-idx3-ubyte.gz"
    raw = gzip.open(p).read()
    gzip.open(p, "wb").write(raw[:-100])
    with pytest.raises(UserError, match="truncated"):
        load_data(validate({"data": {"name": "mnist", "root": str(mnist_root)}, "model": {"name": "lenet"}}))


def test_image_folder_gray_and_rgb(tmp_path):
    for c, colour in enumerate(["red", "blue"]):
        (tmp_path / colour).mkdir()
        for i in range(6):
            Image.new("RGB", (40 + i, 30), colour).save(tmp_path / colour / f"{i}.png")
    d = load_data(validate({"data": {"name": "image_folder", "root": str(tmp_path), "image_size": 16, "channels": 3,
                                   "val_fraction": 0.0, "test_fraction": 0.25}, "model": {"name": "lenet"}}))
    assert d.train.x.shape[1:] == (3, 16, 16) and d.dataset.classes == ["blue", "red"]
    g = load_data(validate({"data": {"name": "image_folder", "root": str(tmp_path), "image_size": 16, "channels": 1},
                          "model": {"name": "lenet"}}))
    assert g.train.x.shape[1:] == (1, 16, 16)
    with pytest.raises(UserError, match="not found"):
        load_data(validate({"data": {"name": "image_folder", "root": str(tmp_path / "nope")}, "model": {"name": "lenet"}}))
