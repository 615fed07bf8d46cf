"""What a streamed image goes through between its file and the model: the augmentation recipes.

    none                 squash to image_size x image_size, exactly as the in-memory path does
    krizhevsky           Krizhevsky, Sutskever & Hinton (2012), section 4.1: rescale the short side to
                         256, keep the central 256 x 256, then a random 224 x 224 crop, a horizontal flip
                         with probability 1/2 and the PCA colour noise ("fancy PCA"); at test time the
                         central 224 x 224 crop, or the average over ten crops (four corners and the
                         centre, and their mirror images)
    random_resized_crop  Szegedy et al. (2015)'s crop as torchvision and timm use it: a random area in
                         [8%, 100%] of the image, aspect ratio in [3/4, 4/3], resized to 224, and a flip;
                         at test time short side 256, central 224 crop

The 256/224 of the paper scale with ``image_size``: the short side becomes round(image_size * 8 / 7).

The work is split as timm's prefetching loader splits it. ``ImageTransform.pixels`` runs per image in
a DataLoader worker: the geometry to uint8 (the test views with ``dlnotes.data.views``, the code
``predict`` uses; the random training crops with numpy and torch's faster resize, ``fast_resize``), and
the image's colour-noise alphas. ``ImageTransform.finish``
runs per batch where the batch lands (the main process, or the GPU): to float, colour noise,
normalisation. Workers thus ship uint8, a quarter of float32's bytes. The random parameters come from
a ``torch.Generator`` seeded per sample from (epoch seed, index), so an image's augmentation does not
depend on which worker decoded it or on how many there are, and ``--resume`` reproduces it.

``decode: cuda`` decodes JPEG batches on the GPU; the same geometry, with the same random numbers,
then runs there through torchvision.transforms.v2.functional (``device_pixels``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlnotes.data import views
from dlnotes.data.pixels import to_uint8
from dlnotes.data.views import RECIPES, short_side  # noqa: F401 - the recipes' names and sizes live there

PCA_STD = 0.1  # section 4.1: alpha_i ~ N(0, 0.1)


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The generator of one sample's augmentation in one epoch: seeded with (epoch seed, index)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + index)


def random_crop_params(h: int, w: int, size: int, g: torch.Generator) -> tuple[int, int]:
    """(top, left) of a uniformly random size x size crop of an h x w image."""
    top = int(torch.randint(h - size + 1, (1,), generator=g))
    left = int(torch.randint(w - size + 1, (1,), generator=g))
    return top, left


def flip_drawn(g: torch.Generator) -> bool:
    """A horizontal flip with probability 1/2."""
    return bool(torch.rand(1, generator=g) < 0.5)


def random_resized_crop_params(h: int, w: int, g: torch.Generator, scale=(0.08, 1.0),
                               ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop.get_params with our generator: (top, left, height, width)."""
    area = h * w
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target = area * torch.empty(1).uniform_(scale[0], scale[1], generator=g).item()
        aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=g)).item()
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=g))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=g))
            return top, left, ch, cw
    in_ratio = w / h  # fallback: the central crop of the allowed aspect ratio
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def pca_lighting(x: torch.Tensor, eigval: torch.Tensor, eigvec: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Section 4.1's colour noise: every RGB pixel I_xy gets [p1, p2, p3] [a1 l1, a2 l2, a3 l3]^T added,
    p_i and l_i the eigenvectors (columns of ``eigvec``) and eigenvalues of the training set's 3x3 RGB
    covariance, a_i ~ N(0, 0.1) drawn once per image. Pixels here are in [0, 1], and so are the
    statistics (fb.resnet.torch's convention); the paper wrote it for 0-255 pixels.

    ``x`` is one image (3, H, W) with ``alpha`` (3,), or a batch (B, [crops,] 3, H, W) with (B, 3)."""
    shift = (alpha.to(x) * eigval.to(x)) @ eigvec.to(x).T  # row form of eigvec @ (alpha * eigval)
    if x.dim() == 3:
        return x + shift.view(3, 1, 1)
    return x + shift.view(len(x), *[1] * (x.dim() - 4), 3, 1, 1)


def pca_of_pixels(count: int, total: torch.Tensor, outer: torch.Tensor) -> dict[str, list]:
    """Mean, std and the covariance eigen-decomposition of pixels from their sums.

    ``total`` = sum of pixel vectors (C,), ``outer`` = sum of x x^T (C, C), both float64 over
    ``count`` pixels. Cov = E[x x^T] - m m^T; std per channel = sqrt(diag Cov) (population, as the
    in-memory statistics); eigenvalues in decreasing order, eigenvectors as columns.
    """
    mean = total / count
    cov = outer / count - torch.outer(mean, mean)
    std = cov.diagonal().clamp_min(0).sqrt()
    std = torch.where(std < 1e-12, torch.ones_like(std), std)
    eigval, eigvec = torch.linalg.eigh(cov)
    eigval, eigvec = eigval.flip(0).clamp_min(0), eigvec.flip(1)
    return {"x_mean": mean.float().tolist(), "x_std": std.float().tolist(),
            "pca_eigval": eigval.float().tolist(), "pca_eigvec": eigvec.float().tolist()}


def fast_resize(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) pixels resized to (height, width, C) uint8 by torch's uint8 antialiased bilinear kernel,
    for the random training views: 4x Pillow's speed on photo-sized images, a third more images/s for a
    worker's whole job on 375x500 JPEGs (docs/benchmarks.md). The views predict shares stay Pillow's
    (``dlnotes.data.views``); the two kernels differ by a grey level here and there."""
    import warnings

    import torchvision.transforms.v2.functional as TF

    with warnings.catch_warnings():  # Pillow's arrays are read-only; torch only reads this one
        warnings.simplefilter("ignore", UserWarning)
        img = torch.from_numpy(to_uint8(arr)).permute(2, 0, 1)
    return TF.resize(img, [height, width], antialias=True).permute(1, 2, 0).numpy()


def float_batch(pixels: torch.Tensor) -> torch.Tensor:
    """A float32 copy of a uint8 batch. On the CPU its memory comes from numpy, which asks Linux for huge
    pages on large arrays (``madvise``): a fresh 77 MB batch then costs a few dozen page faults instead
    of ~19,000, about half the time of the conversion (docs/benchmarks.md)."""
    if pixels.device.type != "cpu":
        return pixels.to(torch.float32)
    return torch.from_numpy(np.empty(tuple(pixels.shape), np.float32)).copy_(pixels)


class ImageTransform:
    """Decoded pixels (H, W, C) to the model's float input (C, S, S), or (10, C, S, S) for ten-crop
    testing, in the two halves above. ``train`` picks the augmented view; ``pre`` holds the recorded
    statistics (``x_mean``/``x_std`` to normalise, ``pca_eigval``/``pca_eigvec`` for the colour noise)."""

    def __init__(self, image_size: int, recipe: str = "none", train: bool = False, ten_crop: bool = False,
                 pre: dict | None = None):
        self.size, self.recipe, self.train, self.ten_crop = image_size, recipe, train, ten_crop
        pre = pre or {}
        self.mean = torch.tensor(pre["x_mean"]) if "x_mean" in pre else None
        self.std = torch.tensor(pre["x_std"]) if "x_mean" in pre else None
        self.eig = (torch.tensor(pre["pca_eigval"]), torch.tensor(pre["pca_eigvec"])) if "pca_eigval" in pre else None

    def augments(self, g: torch.Generator | None) -> bool:
        return self.train and g is not None and self.recipe != "none"

    def fit(self, g: torch.Generator | None = None) -> tuple[int, int] | None:
        """The decoded size the view needs at least (None: the whole image, for random resized crops)."""
        if self.augments(g) and self.recipe == "random_resized_crop":
            return None
        return views.fit(self.size, self.recipe)

    def __call__(self, arr: np.ndarray, g: torch.Generator | None = None) -> torch.Tensor:
        pixels, alpha = self.pixels(arr, g)
        return self.finish(pixels.unsqueeze(0), alpha.unsqueeze(0))[0]

    def pixels(self, arr: np.ndarray, g: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoded (H, W, C) pixels to the view's uint8 (C, S, S) (or (10, C, S, S)) and the image's
        colour-noise alphas (zeros when there is none): the worker's half."""
        if not self.augments(g):
            pixels = views.view(arr, self.size, self.recipe, self.ten_crop)
            return torch.from_numpy(pixels), torch.zeros(3, dtype=torch.float32)
        s, (h, w) = self.size, arr.shape[:2]
        if self.recipe == "krizhevsky":
            r = short_side(s)
            rescaled = arr if min(h, w) == r else fast_resize(arr, *views.short_side_shape(h, w, r))
            square = views.centre_crop(rescaled, r)
            top, left = random_crop_params(r, r, s, g)
            crop = to_uint8(square[top:top + s, left:left + s])
        else:
            top, left, ch, cw = random_resized_crop_params(h, w, g)
            crop = fast_resize(arr[top:top + ch, left:left + cw], s, s)
        if flip_drawn(g):
            crop = crop[:, ::-1]
        return torch.from_numpy(views.chw(crop)), self.alpha(crop.shape[-1], g)

    def alpha(self, channels: int, g: torch.Generator) -> torch.Tensor:
        if self.recipe == "krizhevsky" and self.eig is not None and channels == 3:
            return torch.randn(3, generator=g, dtype=torch.float32) * PCA_STD
        return torch.zeros(3, dtype=torch.float32)

    def device_pixels(self, img: torch.Tensor, g: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``pixels`` for a uint8 (C, H, W) image already on the GPU (``decode: cuda``): the same views
        and random numbers, with torchvision's tensor functions."""
        import torchvision.transforms.v2.functional as TF

        s, r = self.size, short_side(self.size)
        if self.recipe == "none":
            return TF.resize(img, [s, s], antialias=True), torch.zeros(3, dtype=torch.float32)
        if not self.augments(g):
            square = TF.center_crop(_resize_short(img, r), [r, r])
            if not self.ten_crop:
                return TF.center_crop(square, [s, s]), torch.zeros(3, dtype=torch.float32)
            five = TF.five_crop(square, [s, s])
            return torch.stack([*five, *(c.flip(-1) for c in five)]), torch.zeros(3, dtype=torch.float32)
        if self.recipe == "krizhevsky":
            top, left = random_crop_params(r, r, s, g)
            crop = TF.center_crop(_resize_short(img, r), [r, r])[..., top:top + s, left:left + s]
        else:
            top, left, h, w = random_resized_crop_params(*img.shape[-2:], g)
            crop = TF.resized_crop(img, top, left, h, w, [s, s], antialias=True)
        if flip_drawn(g):
            crop = crop.flip(-1)
        return crop, self.alpha(crop.shape[-3], g)

    def finish(self, pixels: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """A uint8 batch (B, C, S, S) or (B, 10, C, S, S) with its alphas (B, 3) to the model's float input
        where it is: p / 255 plus the colour noise, minus the mean, over the std, as one scale per channel
        and one offset per image and channel (two in-place passes over the batch)."""
        x = float_batch(pixels)
        b, c = len(x), x.shape[-3]
        std = self.std.to(x) if self.std is not None else x.new_ones(c)
        offset = -self.mean.to(x) / std if self.mean is not None else x.new_zeros(c)
        offset = offset.expand(b, c)
        if self.eig is not None and self.train and c == 3:
            offset = offset + pca_lighting(x.new_zeros(b, 3, 1, 1), *self.eig, alpha).view(b, 3) / std
        crops = [1] * (x.dim() - 4)  # (B, 10, C, S, S) for ten crops
        return x.mul_((1 / (255 * std)).view(-1, 1, 1)).add_(offset.reshape(b, *crops, c, 1, 1))


def _resize_short(img: torch.Tensor, size: int) -> torch.Tensor:
    import torchvision.transforms.v2.functional as TF

    return img if min(img.shape[-2:]) == size else TF.resize(img, [size], antialias=True)


def describe(recipe: str, image_size: int, ten_crop: bool = False) -> str:
    """One line that says what a recipe does to an image, for ``dlnotes summary``."""
    s, r = image_size, short_side(image_size)
    test = f"ten {s}x{s} crops (corners, centre, mirrored), softmax averaged" if ten_crop else f"central {s}x{s} crop"
    if recipe == "krizhevsky":
        return (f"krizhevsky (Krizhevsky et al. 2012, 4.1): short side {r}, central {r}x{r}, random {s}x{s} crops "
                f"+ horizontal flips + PCA colour noise (alpha ~ N(0, {PCA_STD})); test: short side {r}, {test}")
    if recipe == "random_resized_crop":
        return (f"random_resized_crop: random area 8-100%, aspect 3/4-4/3, resized to {s}x{s} + horizontal flips; "
                f"test: short side {r}, {test}")
    return f"none: every image resized to {s}x{s}"
