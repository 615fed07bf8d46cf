"""Image datasets from files: MNIST-style IDX files, CIFAR-10's binary batches, and class folders.

Files are read directly (IDX and CIFAR-10's binary format are a few lines of numpy), never
unpickled. ``download: true`` fetches the originals with torchvision's downloader, for users with
a network; otherwise a missing file is an error that names the path and the flag.

Every image is resized to ``image_size`` by ``dlnotes.data.views`` as uint8, the code ``predict``
prepares a user's images with, and then read as float in [0, 1] by ``unit_pixels``.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch

from dlnotes.constraints import Interval
from dlnotes.data import views
from dlnotes.data.base import Dataset, check_image_memory, image_gib
from dlnotes.data.image_files import IMAGE_SUFFIXES, is_image_file
from dlnotes.errors import UserError, path_note
from dlnotes.registry import DATASETS

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_SOURCES = {
    "mnist": ("MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/", [str(i) for i in range(10)]),
    "fashion_mnist": ("FashionMNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                       "Ankle boot"]),
    "kmnist": ("KMNIST", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
}


def unit_pixels(u8: np.ndarray) -> torch.Tensor:
    """uint8 pixels as the float [0, 1] tensor a model reads before normalisation: p / 255, computed
    one way for training and ``predict`` alike."""
    return torch.from_numpy(np.asarray(u8).astype(np.float32)).div_(255)


def resized(a: np.ndarray, image_size: int) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, C, H, W) as float (N, C, S, S) in [0, 1], resized by ``views.resize``."""
    a = a[:, None] if a.ndim == 3 else a
    if a.shape[-2:] != (image_size, image_size):
        a = np.stack([views.chw(views.resize(img, image_size, image_size)) for img in a.transpose(0, 2, 3, 1)])
    return unit_pixels(a)


MAX_IDX_BYTES = 1 << 32  # 4 GiB of pixels: far beyond MNIST (47 MB); a bigger header is damage


def _idx_header(f, path: Path, ndim: int) -> tuple[list[int], int]:
    """(shape, bytes of data) from an IDX header: magic (0, 0, 0x08 = unsigned bytes, dims), then sizes."""
    head = f.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
        raise UserError(f"'{path}' is not an IDX file of unsigned bytes")
    if head[3] != ndim:
        raise UserError(f"'{path}' has {head[3]} dimensions; an IDX {'image' if ndim == 3 else 'label'} "
                        f"file has {ndim}")
    sizes = f.read(4 * ndim)
    dims = [int.from_bytes(sizes[4 * i: 4 * i + 4], "big") for i in range(ndim)]
    need = int(np.prod(dims, dtype=object)) if len(sizes) == 4 * ndim else -1
    if need < 0 or need > MAX_IDX_BYTES:
        raise UserError(f"'{path}' has a damaged header (shape {dims})")
    return dims, need


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file (LeCun's MNIST format), gzipped or not: magic (0, 0, type, dims), sizes, data.

    Reads the header first and then exactly the bytes it announces, so a gzip bomb or a wrong size
    is an error naming the file, never gigabytes read into memory.
    """
    from dlnotes.data.checks import regular_file

    regular_file(path, "data.root:")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            dims, need = _idx_header(f, path, ndim)
            raw = f.read(need + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(f"'{path}' cannot be read ({getattr(e, 'strerror', None) or e})") from None
    if len(raw) != need:
        what = "is truncated" if len(raw) < need else "has more data than its header says"
        raise UserError(f"'{path}' {what}: {min(len(raw), need + 1)}{'+' if len(raw) > need else ''} bytes of data "
                        f"for shape {dims}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(dims)


def _check_labels(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path, classes) -> None:
    if len(images) != len(labels):
        raise UserError(f"'{image_path}' holds {len(images)} images but '{label_path}' {len(labels)} labels; "
                        "they must be the same count")
    if len(labels) and labels.max() >= len(classes):
        i = int(np.argmax(labels >= len(classes)))
        raise UserError(f"'{label_path}': label {int(labels[i])} at index {i} is not a class; "
                        f"labels must be 0..{len(classes) - 1}")


def _download(url: str, folder: Path, key: str) -> None:
    """torchvision's downloader; any network failure names the URL (``data.download: true`` offline)."""
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(url, download_root=str(folder))
    except Exception as e:  # noqa: BLE001 - URLError, HTTPError, timeouts, bad archives: all "cannot fetch"
        reason = " ".join(str(getattr(e, "reason", None) or e).split())[:200] or type(e).__name__
        raise UserError(f"data.download: fetching {url} for {key} failed ({reason}); put the files under "
                        f"'{folder}' yourself or check the network") from None


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
        for n in IDX_FILES:
            _download(url + n + ".gz", root_p / folder / "raw", key)
        paths = [_find_idx(root_p, folder, n) for n in IDX_FILES]
    if None in paths:
        missing = IDX_FILES[paths.index(None)]
        raise UserError(f"data.root: {missing}(.gz) not found in '{root_p}' (nor in {root_p / folder / 'raw'})"
                        f"{path_note(root_p)}; put the four {folder} IDX files there, or set data.download: true")
    xtr, ytr, xte, yte = (read_idx(p, 3 if "images" in p.name else 1) for p in paths)
    _check_labels(xtr, ytr, paths[0], paths[1], classes)
    _check_labels(xte, yte, paths[2], paths[3], classes)
    if limit_train:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    if limit_test:
        xte, yte = xte[:limit_test], yte[:limit_test]
    check_image_memory(len(xtr) + len(xte), 1, image_size)
    return Dataset(resized(xtr, image_size), torch.from_numpy(ytr.astype(np.int64)), "classification", "image",
                   x_test=resized(xte, image_size), y_test=torch.from_numpy(yte.astype(np.int64)), classes=classes,
                   image_size=image_size, channels=1,
                   style="fashion" if key == "fashion_mnist" else "mnist")  # how predict prepares photos


@DATASETS.register
def mnist(root: str = "data", download: bool = False, image_size: Annotated[int, Interval(1, 1024)] = 28,
          limit_train: Annotated[int, Interval(0, None)] = 0, limit_test: Annotated[int, Interval(0, None)] = 0) -> Dataset:
    """MNIST handwritten digits (LeCun et al. 1998) from the four IDX files under root."""
    return _idx_dataset("mnist", root, download, image_size, limit_train, limit_test)


@DATASETS.register
def fashion_mnist(root: str = "data", download: bool = False, image_size: Annotated[int, Interval(1, 1024)] = 28,
                  limit_train: Annotated[int, Interval(0, None)] = 0, limit_test: Annotated[int, Interval(0, None)] = 0) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): ten kinds of clothing, MNIST's IDX format."""
    return _idx_dataset("fashion_mnist", root, download, image_size, limit_train, limit_test)


@DATASETS.register
def kmnist(root: str = "data", download: bool = False, image_size: Annotated[int, Interval(1, 1024)] = 28,
           limit_train: Annotated[int, Interval(0, None)] = 0, limit_test: Annotated[int, Interval(0, None)] = 0) -> Dataset:
    """Kuzushiji-MNIST (Clanuwat et al. 2018): cursive Japanese characters, MNIST's IDX format."""
    return _idx_dataset("kmnist", root, download, image_size, limit_train, limit_test)


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 binary batch: records of 1 label byte + 3,072 pixel bytes (R, G, B planes of 32x32)."""
    from dlnotes.data.checks import regular_file

    raw = np.fromfile(regular_file(path, "data.root:"), dtype=np.uint8)
    if raw.size % 3073:
        raise UserError(f"'{path}' is not a CIFAR-10 binary batch (size {raw.size} is not a multiple of 3073)")
    rec = raw.reshape(-1, 3073)
    _check_labels(rec, rec[:, 0], path, path, CIFAR_CLASSES)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0]


@DATASETS.register
def cifar10(root: str = "data", download: bool = False, image_size: Annotated[int, Interval(1, 1024)] = 32,
            limit_train: Annotated[int, Interval(0, None)] = 0, limit_test: Annotated[int, Interval(0, None)] = 0) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009) from its binary version (cifar-10-batches-bin); never unpickled."""
    base = Path(root) / "cifar-10-batches-bin"
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    if not all((base / n).is_file() for n in names) and download:
        _download("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", Path(root), "cifar10")
    for n in names:
        if not (base / n).is_file():
            raise UserError(f"data.root: '{base / n}' not found{path_note(base)}; unpack cifar-10-binary.tar.gz "
                            f"under '{root}' or set data.download: true")
    parts = [_read_cifar_bin(base / n) for n in names]
    xtr = np.concatenate([p[0] for p in parts[:5]])
    ytr = np.concatenate([p[1] for p in parts[:5]])
    xte, yte = parts[5]
    if limit_train:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    if limit_test:
        xte, yte = xte[:limit_test], yte[:limit_test]
    check_image_memory(len(xtr) + len(xte), 3, image_size)
    return Dataset(resized(xtr, image_size), torch.from_numpy(ytr.astype(np.int64)), "classification", "image",
                   x_test=resized(xte, image_size), y_test=torch.from_numpy(yte.astype(np.int64)), classes=CIFAR_CLASSES,
                   image_size=image_size, channels=3)


def _class_images(base: Path, key: str) -> tuple[list[str], dict[str, list[Path]]]:
    """The visible sub-folders of ``base`` and the image files in each (hidden folders such as
    .ipynb_checkpoints or .git are not classes, hidden files such as ._x.png not images)."""
    found = sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not found:
        raise UserError(f"data.{key}: '{base}' has no class sub-folders (e.g. {base}/cat/, {base}/dog/)")
    return found, {d: sorted(f for f in (base / d).iterdir() if is_image_file(f)) for d in found}


def class_folders(folder: str, key: str, classes: list[str] | None) -> tuple[list[tuple[Path, int]], list[str]]:
    """(file, class index) pairs of a folder with one sub-folder per class, and the classes (``classes``
    given: the training set's, and sub-folders that are not among them are left out)."""
    base = Path(folder)
    if not base.is_dir():
        raise UserError(f"data.{key}: folder '{base}' not found{path_note(base)}; it should hold one sub-folder "
                        "per class")
    found, images = _class_images(base, key)
    empty = [d for d in found if not images[d]]
    if empty and classes is None:
        raise UserError(f"data.{key}: class folder '{base / empty[0]}' holds no image files; remove it or "
                        f"add images ({', '.join(IMAGE_SUFFIXES)})")
    if classes is None and len(found) < 2:
        raise UserError(f"data.{key}: '{base}' has one class folder ('{found[0]}'); a classifier needs at "
                        "least two (hidden folders such as .ipynb_checkpoints are not classes)")
    classes = classes or found
    files = [(f, classes.index(d)) for d in found if d in classes for f in images[d]]
    if not files:
        raise UserError(f"data.{key}: no image files under '{base}' ({', '.join(IMAGE_SUFFIXES)})")
    return files, classes


def _why_stream(n: int, channels: int, image_size: int, stream, memory_limit_gb: float, recipe: str) -> str:
    """Why the folder is streamed ("" when it is held in memory); refuses ``stream: false`` when it cannot be."""
    need = image_gib(n, channels, image_size)
    if stream is True:
        why = "data.stream is true"
    elif recipe != "none":
        why = f"data.augment_recipe {recipe} crops each image as it is read"
    elif need > memory_limit_gb:
        why = f"as float32 they need {need:.2f} GiB, over data.memory_limit_gb = {memory_limit_gb:g}"
    else:
        why = ""
    if why and stream is False:
        raise UserError(f"data.stream: false, but {why}; set data.stream: auto (or true)" if recipe != "none" else
                        f"data.image_size: {n} images at {channels}x{image_size}x{image_size} need {need:.2f} GiB "
                        f"as float32 (data.memory_limit_gb = {memory_limit_gb:g}); set data.stream: auto to "
                        "stream them from disk, or a smaller image_size")
    return why


@DATASETS.register
def image_folder(root: str = "data/images", image_size: Annotated[int, Interval(1, 1024)] = 64,
                 channels: Literal[1, 3] = 3, test_root: str | None = None,
                 stream: Literal["auto", True, False] = "auto",
                 memory_limit_gb: Annotated[float, Interval(0, None, closed="neither")] = 16.0,
                 workers: Annotated[int, Interval(0, 64)] = 2,
                 augment_recipe: Literal["none", "krizhevsky", "random_resized_crop"] = "none",
                 ten_crop: bool = False, stats_images: Annotated[int, Interval(0, None)] = 10000, decode: Literal["cpu", "cuda"] = "cpu") -> Dataset:
    """Your images, one sub-folder per class (root/cat/*.jpg, root/dog/*.png); in memory or streamed.

    In memory (the fast path on small data): every image decoded once, squashed to image_size and
    held as float32. Streamed (``dlnotes.data.stream``): decoded by ``workers`` DataLoader processes
    when a batch needs it, with the ``augment_recipe`` crops (``dlnotes.data.transforms``); taken when
    ``stream: true``, when a crop recipe is asked for, or (``auto``) when the float32 tensor would pass
    ``memory_limit_gb``. ``stats_images`` files (0: all) give a streamed set its normalisation
    statistics; ``decode: cuda`` decodes JPEG batches on the GPU with nvJPEG. Both paths decode and
    resize with ``dlnotes.data.pixels`` and ``views``, as ``predict`` does.
    """
    if ten_crop and augment_recipe == "none":
        raise UserError("data.ten_crop: ten crops need a crop recipe; set data.augment_recipe: krizhevsky "
                        "or random_resized_crop")
    files, classes = class_folders(root, "root", None)
    test_files = class_folders(test_root, "test_root", classes)[0] if test_root else []
    n = len(files) + len(test_files)
    why = _why_stream(n, channels, image_size, stream, memory_limit_gb, augment_recipe)
    facts = {"image_size": image_size, "channels": channels, "recipe": augment_recipe, "ten_crop": ten_crop}
    if why:
        from dlnotes.data.stream import ImageFiles

        def load(pairs):
            x = ImageFiles([str(f) for f, _ in pairs], torch.tensor([c for _, c in pairs]), channels, image_size,
                           augment_recipe, ten_crop, workers, decode, stats_images)
            return x, x.labels

        facts["loading"] = f"{n:,} images streamed from disk by {workers} worker(s): {why}"
    else:
        def load(pairs):
            return unit_pixels(views.model_pixels([f for f, _ in pairs], facts)), torch.tensor([c for _, c in pairs])

        facts["loading"] = (f"{n:,} images in memory: {image_gib(n, channels, image_size):.2f} GiB as float32, "
                            f"within data.memory_limit_gb = {memory_limit_gb:g}")
    x, y = load(files)
    ds = Dataset(x, y, "classification", "image", classes=classes, **facts)
    if test_files:
        ds.x_test, ds.y_test = load(test_files)
    return ds
