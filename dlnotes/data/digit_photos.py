"""A user's photo of a digit, prepared the way the training digits were made, before the run's resize.

People write dark ink on light paper, with margins, at any size; the datasets are white ink on black,
cropped and normalised in size and position. ``prepare_photo`` repeats their recipe:

    mnist    (LeCun et al. 1998, also kmnist) grey; inverted when the background is light; cropped
             to the ink; fitted in a 20x20 box keeping the aspect ratio (antialiased, so grey edges);
             placed in 28x28 so that the centre of mass of the ink is at the centre (14, 14).
    digits   (scikit-learn's 8x8 digits: UCI optdigits, Alpaydin & Kaynak 1998, from NIST forms)
             grey; inverted when light; cropped to the ink; scaled to fill a 32x32 bitmap keeping
             the aspect ratio and centred; binarised at half its darkest ink; then each 4x4 block counts its ink pixels,
             0..16, divided by 16 as dlnotes reads them: an 8x8 image. Those strokes are thick (a
             third of the pixels are ink), so a thin pen's bitmap is first dilated to about that share.
    fashion  (Xiao et al. 2017) grey; inverted when light; cropped; longest side fitted to 28; centred.

The result is (S, S) in [0, 1] with S the dataset's own side (28 or 8); ``dlnotes.data.views`` then
rounds it to uint8 and resizes it to the run's image_size exactly as the training images were resized.
numpy + Pillow only (it runs without torch, for ``dlnotes.inputs.prepare``): the crop and the moments
in numpy, the fits with Pillow's bilinear filter on float pixels (antialiased when shrinking).
"""

from __future__ import annotations

import numpy as np

STYLES = ("mnist", "digits", "fashion")
SIDE = {"mnist": 28, "digits": 8, "fashion": 28}  # the side of the images the dataset's own files hold


def ink(gray: np.ndarray) -> np.ndarray:
    """Ink as high values in [0, 1] from a grey (H, W) image in [0, 1]: inverted when the background (the
    lower median of the border pixels) is light, then stretched so the background is 0 and the darkest ink 1."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.sort(border)[(len(border) - 1) // 2])
    img = 1.0 - gray if background > 0.5 else gray
    bg = 1.0 - background if background > 0.5 else background
    top = float(img.max())
    if top - bg < 1e-6:  # a blank image: nothing to crop
        return np.zeros_like(img)
    return np.clip((img - bg) / (top - bg), 0, 1)


def crop_to_ink(img: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """The bounding box of the pixels above ``threshold`` (the whole image when there are none)."""
    rows = np.flatnonzero((img > threshold).any(axis=1))
    cols = np.flatnonzero((img > threshold).any(axis=0))
    if len(rows) == 0:
        return img
    return img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def fit_in_box(img: np.ndarray, box: int) -> np.ndarray:
    """Scaled so that its longer side is ``box`` pixels, keeping the aspect ratio (the shorter >= 1)."""
    from PIL import Image

    h, w = img.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32), "F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float64), 0, 1)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass, pixel i spanning [i, i + 1): sum(i * m) / sum(m) + 0.5."""
    m = np.asarray(img, dtype=np.float64)
    total = float(m.sum()) or 1.0
    return (float(m.sum(1) @ np.arange(m.shape[0])) / total + 0.5,
            float(m.sum(0) @ np.arange(m.shape[1])) / total + 0.5)


def paste(img: np.ndarray, side: int, top: int, left: int) -> np.ndarray:
    """``img`` placed at (top, left) on a black side x side canvas (what falls outside is cut)."""
    canvas = np.zeros((side, side), dtype=img.dtype)
    h, w = img.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + h, side), min(left + w, side)
    if r1 > r0 and c1 > c0:
        canvas[r0:r1, c0:c1] = img[r0 - top:r1 - top, c0 - left:c1 - left]
    return canvas


def mnist_style(gray: np.ndarray) -> np.ndarray:
    """The MNIST recipe: ink cropped, fitted in 20x20, centred by mass in 28x28 -> (28, 28)."""
    box = fit_in_box(crop_to_ink(ink(gray)), 20)
    cy, cx = centre_of_mass(box)
    return paste(box, 28, round(14 - cy), round(14 - cx))


def fashion_style(gray: np.ndarray) -> np.ndarray:
    box = fit_in_box(crop_to_ink(ink(gray)), 28)
    return paste(box, 28, (28 - box.shape[0]) // 2, (28 - box.shape[1]) // 2)


def dilate(bitmap: np.ndarray) -> np.ndarray:
    """A 3x3 dilation of a boolean image (a pixel is set when any of its 8 neighbours or itself is)."""
    padded = np.pad(bitmap, 1)
    h, w = bitmap.shape
    out = np.zeros_like(bitmap)
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy:dy + h, dx:dx + w]
    return out


def digits_style(gray: np.ndarray, ink_share: float = 0.22) -> np.ndarray:
    """The optdigits recipe: a 32x32 binary bitmap, counted in 4x4 blocks -> (8, 8) in [0, 1]."""
    box = fit_in_box(crop_to_ink(ink(gray)), 32)
    # half the box's darkest ink, not 0.5: a thin pen's strokes come out of the fit grey, and would vanish
    bitmap = paste(box, 32, (32 - box.shape[0]) // 2, (32 - box.shape[1]) // 2) > 0.5 * max(float(box.max()), 1e-6)
    for _ in range(4):  # a thin pen: thicken the strokes (3x3 dilation) towards the dataset's share of ink
        if bitmap.mean() >= ink_share:
            break
        thick = dilate(bitmap)
        if thick.mean() > 2 * ink_share:
            break
        bitmap = thick
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)) / 16.0


def prepare_photo(gray: np.ndarray, style: str) -> np.ndarray:
    """A grey (H, W) photo in [0, 1] prepared in ``style`` (see the module docstring): (S, S) in [0, 1]."""
    return {"mnist": mnist_style, "digits": digits_style, "fashion": fashion_style}[style](np.asarray(gray, np.float64))
