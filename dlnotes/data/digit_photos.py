"""A user's photo of a digit, prepared the way the training digits were made, before the run's resize.

People write dark ink on light paper, with margins, at any size; the datasets are white ink on black,
cropped and normalised in size and position. ``prepare_photo`` repeats their recipe:

    mnist    (LeCun et al. 1998, also kmnist) grey; inverted when the background is light; cropped
             to the ink; fitted in a 20x20 box keeping the aspect ratio (antialiased, so grey edges);
             placed in 28x28 so that the centre of mass of the ink is at the centre (14, 14).
    digits   (scikit-learn's 8x8 digits: UCI optdigits, Alpaydin & Kaynak 1998, from NIST forms)
             grey; inverted when light; cropped to the ink; scaled to fill a 32x32 bitmap keeping
             the aspect ratio and centred; binarised; then each 4x4 block counts its ink pixels,
             0..16, divided by 16 as dlnotes reads them: an 8x8 image. Those strokes are thick (a
             third of the pixels are ink), so a thin pen's bitmap is first dilated to about that share.
    fashion  (Xiao et al. 2017) grey; inverted when light; cropped; longest side fitted to 28; centred.

The result is (1, S, S) in [0, 1] with S the dataset's own side (28 or 8); the Images kind then
resizes it to the run's image_size exactly as the training images were resized. Plain torch and
numpy: the crop, the fits (bilinear, antialiased when shrinking, as ``resize_images``) and the moments.
"""

from __future__ import annotations

import torch

STYLES = ("mnist", "digits", "fashion")
SIDE = {"mnist": 28, "digits": 8, "fashion": 28}  # the side of the images the dataset's own files hold


def ink(gray: torch.Tensor) -> torch.Tensor:
    """Ink as high values in [0, 1] from a grey (H, W) image: inverted when the background (the median
    of the border pixels) is light, then stretched so the background is 0 and the darkest ink 1."""
    border = torch.cat([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(border.median())
    img = 1.0 - gray if background > 0.5 else gray
    bg = 1.0 - background if background > 0.5 else background
    top = float(img.max())
    if top - bg < 1e-6:  # a blank image: nothing to crop
        return torch.zeros_like(img)
    return ((img - bg) / (top - bg)).clamp(0, 1)


def crop_to_ink(img: torch.Tensor, threshold: float = 0.25) -> torch.Tensor:
    """The bounding box of the pixels above ``threshold`` (the whole image when there are none)."""
    rows = torch.nonzero((img > threshold).any(dim=1)).flatten()
    cols = torch.nonzero((img > threshold).any(dim=0)).flatten()
    if len(rows) == 0:
        return img
    return img[int(rows[0]):int(rows[-1]) + 1, int(cols[0]):int(cols[-1]) + 1]


def fit_in_box(img: torch.Tensor, box: int) -> torch.Tensor:
    """Scaled so that its longer side is ``box`` pixels, keeping the aspect ratio (the shorter >= 1)."""
    h, w = img.shape
    scale = box / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    shrink = size[0] < h or size[1] < w
    out = torch.nn.functional.interpolate(img[None, None].float(), size=size, mode="bilinear",
                                          align_corners=False, antialias=shrink)
    return out[0, 0].clamp(0, 1)


def centre_of_mass(img: torch.Tensor) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass, pixel i spanning [i, i + 1): sum(i * m) / sum(m) + 0.5."""
    m = img.double()
    total = float(m.sum()) or 1.0
    r = torch.arange(img.shape[0], dtype=torch.float64)
    c = torch.arange(img.shape[1], dtype=torch.float64)
    return float((m.sum(1) * r).sum()) / total + 0.5, float((m.sum(0) * c).sum()) / total + 0.5


def paste(img: torch.Tensor, side: int, top: int, left: int) -> torch.Tensor:
    """``img`` placed at (top, left) on a black side x side canvas (what falls outside is cut)."""
    canvas = torch.zeros(side, side, dtype=img.dtype)
    h, w = img.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + h, side), min(left + w, side)
    if r1 > r0 and c1 > c0:
        canvas[r0:r1, c0:c1] = img[r0 - top:r1 - top, c0 - left:c1 - left]
    return canvas


def mnist_style(gray: torch.Tensor) -> torch.Tensor:
    """The MNIST recipe: ink cropped, fitted in 20x20, centred by mass in 28x28 -> (28, 28)."""
    box = fit_in_box(crop_to_ink(ink(gray)), 20)
    cy, cx = centre_of_mass(box)
    return paste(box, 28, round(14 - cy), round(14 - cx))


def fashion_style(gray: torch.Tensor) -> torch.Tensor:
    box = fit_in_box(crop_to_ink(ink(gray)), 28)
    return paste(box, 28, (28 - box.shape[0]) // 2, (28 - box.shape[1]) // 2)


def digits_style(gray: torch.Tensor, ink_share: float = 0.22) -> torch.Tensor:
    """The optdigits recipe: a 32x32 binary bitmap, counted in 4x4 blocks -> (8, 8) in [0, 1]."""
    box = fit_in_box(crop_to_ink(ink(gray)), 32)
    bitmap = paste(box, 32, (32 - box.shape[0]) // 2, (32 - box.shape[1]) // 2) > 0.5
    for _ in range(4):  # a thin pen: thicken the strokes (3x3 dilation) towards the dataset's share of ink
        if bitmap.float().mean() >= ink_share:
            break
        thick = torch.nn.functional.max_pool2d(bitmap[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
        if thick.float().mean() > 2 * ink_share:
            break
        bitmap = thick
    return bitmap.float().reshape(8, 4, 8, 4).sum(dim=(1, 3)) / 16.0


def prepare_photo(image: torch.Tensor, style: str) -> torch.Tensor:
    """A (C, H, W) image in [0, 1] prepared in ``style`` (see the module docstring): (1, S, S)."""
    gray = image.float().mean(0) if image.dim() == 3 else image.float()
    out = {"mnist": mnist_style, "digits": digits_style, "fashion": fashion_style}[style](gray)
    return out.unsqueeze(0)
