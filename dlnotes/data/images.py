"""Image datasets from files: MNIST-style IDX files, CIFAR-10's binary batches, and class folders.

Files are read directly (IDX and CIFAR-10's binary format are a few lines of numpy), never
unpickled. ``download: true`` fetches the originals with torchvision's downloader, for users with
a network; otherwise a missing file is an error that names the path and the flag.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from dlnotes.data.base import Dataset, check_image_memory, resize_images
from dlnotes.data.image_files import IMAGE_SUFFIXES, read_image
from dlnotes.errors import UserError
from dlnotes.registry import DATASETS

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_SOURCES = {
    "mnist": ("MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/", [str(i) for i in range(10)]),
    "fashion_mnist": ("FashionMNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                       "Ankle boot"]),
    "kmnist": ("KMNIST", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format), gzipped or not: magic (0, 0, type, dims), sizes, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"'{path}' cannot be read ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"'{path}' is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserError(f"'{path}' is truncated: {data.size} bytes of data for shape {dims}")
    return data.reshape(dims)


def _find_idx(root: Path, folder: str, name: str) -> Path | None:
    for base in (root, root / folder / "raw", root / folder):
        for candidate in (base / name, base / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _idx_dataset(key: str, root: str, download: bool, image_size: int, limit_train: int, limit_test: int) -> Dataset:
    folder, url, classes = IDX_SOURCES[key]
    root_p = Path(root)
    paths = [_find_idx(root_p, folder, n) for n in IDX_FILES]
    if None in paths and download:
        from torchvision.datasets.utils import download_and_extract_archive

        for n in IDX_FILES:
            download_and_extract_archive(url + n + ".gz", download_root=str(root_p / folder / "raw"))
        paths = [_find_idx(root_p, folder, n) for n in IDX_FILES]
    if None in paths:
        missing = IDX_FILES[paths.index(None)]
        raise UserError(f"data.root: {missing}(.gz) not found in '{root_p}' (nor in {root_p / folder / 'raw'}); "
                        f"put the four {folder} IDX files there, or set data.download: true to fetch them")
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)
    if limit_train:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    if limit_test:
        xte, yte = xte[:limit_test], yte[:limit_test]
    check_image_memory(len(xtr) + len(xte), 1, image_size)
    conv = lambda a: resize_images(torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1), image_size)
    return Dataset(conv(xtr), torch.from_numpy(ytr.astype(np.int64)), "classification", "image",
                   x_test=conv(xte), y_test=torch.from_numpy(yte.astype(np.int64)), classes=classes,
                   image_size=image_size, channels=1,
                   style="fashion" if key == "fashion_mnist" else "mnist")  # how predict prepares photos


@DATASETS.register
def mnist(root: str = "data", download: bool = False, image_size: int = 28, limit_train: int = 0,
          limit_test: int = 0) -> Dataset:
    """MNIST handwritten digits (LeCun et al. 1998) from the four IDX files under root."""
    return _idx_dataset("mnist", root, download, image_size, limit_train, limit_test)


@DATASETS.register
def fashion_mnist(root: str = "data", download: bool = False, image_size: int = 28, limit_train: int = 0,
                  limit_test: int = 0) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): ten kinds of clothing, MNIST's IDX format."""
    return _idx_dataset("fashion_mnist", root, download, image_size, limit_train, limit_test)


@DATASETS.register
def kmnist(root: str = "data", download: bool = False, image_size: int = 28, limit_train: int = 0,
           limit_test: int = 0) -> Dataset:
    """Kuzushiji-MNIST (Clanuwat et al. 2018): cursive Japanese characters, MNIST's IDX format."""
    return _idx_dataset("kmnist", root, download, image_size, limit_train, limit_test)


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 binary batch: records of 1 label byte + 3,072 pixel bytes (R, G, B planes of 32x32)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        raise UserError(f"'{path}' is not a CIFAR-10 binary batch (size {raw.size} is not a multiple of 3073)")
    rec = raw.reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0]


@DATASETS.register
def cifar10(root: str = "data", download: bool = False, image_size: int = 32, limit_train: int = 0,
            limit_test: int = 0) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009) from its binary version (cifar-10-batches-bin); never unpickled."""
    base = Path(root) / "cifar-10-batches-bin"
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    if not all((base / n).is_file() for n in names) and download:
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", str(root))
    for n in names:
        if not (base / n).is_file():
            raise UserError(f"data.root: '{base / n}' not found; unpack cifar-10-binary.tar.gz under '{root}' "
                            "or set data.download: true")
    parts = [_read_cifar_bin(base / n) for n in names]
    xtr = np.concatenate([p[0] for p in parts[:5]])
    ytr = np.concatenate([p[1] for p in parts[:5]])
    xte, yte = parts[5]
    if limit_train:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    if limit_test:
        xte, yte = xte[:limit_test], yte[:limit_test]
    check_image_memory(len(xtr) + len(xte), 3, image_size)
    conv = lambda a: resize_images(torch.from_numpy(a.astype(np.float32) / 255.0), image_size)
    return Dataset(conv(xtr), torch.from_numpy(ytr.astype(np.int64)), "classification", "image",
                   x_test=conv(xte), y_test=torch.from_numpy(yte.astype(np.int64)), classes=CIFAR_CLASSES,
                   image_size=image_size, channels=3)


@DATASETS.register
def image_folder(root: str = "data/images", image_size: int = 64, channels: Literal[1, 3] = 3,
                 test_root: str | None = None) -> Dataset:
    """Your images, one sub-folder per class (root/cat/*.jpg, root/dog/*.png), resized in memory."""
    def load(folder: str, key: str, classes: list[str] | None):
        base = Path(folder)
        if not base.is_dir():
            raise UserError(f"data.{key}: folder '{base}' not found; it should hold one sub-folder per class")
        found = sorted(d.name for d in base.iterdir() if d.is_dir())
        if not found:
            raise UserError(f"data.{key}: '{base}' has no class sub-folders (e.g. {base}/cat/, {base}/dog/)")
        classes = classes or found
        files = [(f, classes.index(d)) for d in found if d in classes
                 for f in sorted((base / d).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise UserError(f"data.{key}: no image files under '{base}' ({', '.join(IMAGE_SUFFIXES)})")
        check_image_memory(len(files), channels, image_size)
        x = torch.stack([resize_images(read_image(f, channels).unsqueeze(0), image_size)[0] for f, _ in files])
        return x, torch.tensor([c for _, c in files]), classes

    x, y, classes = load(root, "root", None)
    ds = Dataset(x, y, "classification", "image", classes=classes,
                 image_size=image_size, channels=channels)
    if test_root:
        ds.x_test, ds.y_test, _ = load(test_root, "test_root", classes)
    return ds
