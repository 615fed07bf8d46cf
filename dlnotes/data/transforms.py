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

The pixel operations are torchvision.transforms.v2.functional's (antialiased resize, crops, flips on
tensors, on CPU or GPU): a well-kept implementation of what these recipes need. Their random
parameters come from a ``torch.Generator`` we hand in, seeded per sample from (epoch seed, index), so
an image's augmentation does not depend on which worker decoded it or on how many there are, and
``--resume`` reproduces it.
"""

from __future__ import annotations

import math

import torch
import torchvision.transforms.v2.functional as TF

from dlnotes.data.base import resize_images

RECIPES = ("none", "krizhevsky", "random_resized_crop")
PCA_STD = 0.1  # section 4.1: alpha_i ~ N(0, 0.1)


def short_side(image_size: int) -> int:
    """The paper's 256 for a 224 crop, scaled: round(image_size * 256 / 224)."""
    return round(image_size * 8 / 7)


def to_float(img: torch.Tensor) -> torch.Tensor:
    """uint8 (or 16-bit) pixels as float in [0, 1]."""
    if img.is_floating_point():
        return img
    return img.float() / (65535.0 if img.dtype in (torch.uint16, torch.int32) else 255.0)


def resize_short(img: torch.Tensor, size: int) -> torch.Tensor:
    """Rescales so that the shorter side is ``size`` (antialiased), keeping the aspect ratio."""
    if min(img.shape[-2:]) == size:
        return img
    return TF.resize(img, [size], antialias=True)


def random_crop(img: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    h, w = img.shape[-2:]
    top = int(torch.randint(h - size + 1, (1,), generator=g))
    left = int(torch.randint(w - size + 1, (1,), generator=g))
    return img[..., top:top + size, left:left + size]


def random_flip(img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return img.flip(-1) if bool(torch.rand(1, generator=g) < 0.5) else img


def ten_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """(10, C, size, size): four corners and the centre, then the same five of the mirrored image."""
    five = TF.five_crop(img, [size, size])
    return torch.stack([*five, *(c.flip(-1) for c in five)])


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


class ImageTransform:
    """One image (C, H, W), uint8 or float, to the model's float input (C, S, S), or (10, C, S, S) for
    ten-crop testing. ``train`` picks the augmented view; ``pre`` holds the recorded statistics
    (``x_mean``/``x_std`` to normalise, ``pca_eigval``/``pca_eigvec`` for the colour noise).

    Two halves, so that a loader's workers ship bytes, not floats: ``pixels`` (per image, in a worker:
    decode-side crops and flips, kept uint8 for the crop recipes, and the image's colour-noise alphas)
    and ``finish`` (per batch, where the batch lands, e.g. on the GPU: to [0, 1], colour noise,
    normalisation). ``transform(img, g)`` is both at once."""

    def __init__(self, image_size: int, recipe: str = "none", train: bool = False, ten_crop: bool = False,
                 pre: dict | None = None):
        self.size, self.recipe, self.train, self.ten_crop = image_size, recipe, train, ten_crop
        pre = pre or {}
        self.mean = torch.tensor(pre["x_mean"]) if "x_mean" in pre else None
        self.std = torch.tensor(pre["x_std"]) if "x_mean" in pre else None
        self.eig = (torch.tensor(pre["pca_eigval"]), torch.tensor(pre["pca_eigvec"])) if "pca_eigval" in pre else None

    def __call__(self, img: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        pixels, alpha = self.pixels(img, g)
        return self.finish(pixels.unsqueeze(0), alpha.unsqueeze(0))[0]

    def pixels(self, img: torch.Tensor, g: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The geometric part (uint8 for the crop recipes, float in [0, 1] for ``none``) and the
        image's colour-noise alphas (zeros when there is none)."""
        s, alpha = self.size, torch.zeros(3)
        if self.recipe == "none":
            return resize_images(to_float(img).unsqueeze(0), s)[0], alpha
        if img.dtype != torch.uint8:  # 16-bit or float input: 8 bits are what the crops ship
            img = (to_float(img) * 255).round().clamp(0, 255).to(torch.uint8)
        r = short_side(s)
        if not self.train or g is None:  # test: the central r x r patch, then its centre (or ten crops)
            img = TF.center_crop(resize_short(img, r), [r, r])
            return (ten_crop(img, s) if self.ten_crop else TF.center_crop(img, [s, s])), alpha
        if self.recipe == "krizhevsky":
            img = random_crop(TF.center_crop(resize_short(img, r), [r, r]), s, g)
        else:
            top, left, h, w = random_resized_crop_params(*img.shape[-2:], g)
            img = TF.resized_crop(img, top, left, h, w, [s, s], antialias=True)
        img = random_flip(img, g)
        if self.recipe == "krizhevsky" and self.eig is not None and img.shape[0] == 3:
            alpha = torch.randn(3, generator=g) * PCA_STD
        return img, alpha

    def finish(self, pixels: torch.Tensor, alpha: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """A batch (B, C, S, S) or (B, 10, C, S, S) of ``pixels`` to the model's input, on its device
        (written into ``out`` when given)."""
        if self.mean is None:
            x = self.view(pixels, alpha)
            return out.copy_(x) if out is not None else x
        # (p / 255 + shift - mean) / std as one scale and one offset per image and channel: two in-place
        # passes over the batch instead of four that each allocate it again
        x = out.copy_(pixels) if out is not None else pixels.to(torch.float32, copy=True)
        std, mean = self.std.to(x), self.mean.to(x)
        scale = 1 / (std * 255) if pixels.dtype == torch.uint8 else 1 / std
        offset = (-mean / std).expand(len(x), -1)
        if self.eig is not None and self.train and x.shape[-3] == 3:
            offset = offset + pca_lighting(torch.zeros(len(x), 3, 1, 1).to(x), *self.eig, alpha).view(-1, 3) / std
        crops = [1] * (x.dim() - 4)  # (B, 10, C, S, S) for ten crops
        return x.mul_(scale.view(-1, 1, 1)).add_(offset.reshape(len(x), *crops, -1, 1, 1))

    def view(self, pixels: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels with the colour noise: what statistics are computed on (with train False)."""
        x = to_float(pixels)
        if self.eig is not None and self.train and x.shape[-3] == 3:
            x = pca_lighting(x, *self.eig, alpha)
        return x


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
