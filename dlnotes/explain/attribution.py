"""Where a classifier looks: Grad-CAM and gradient saliency, and the check that they depend on the model.

Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: visual explanations from deep networks via gradient-based
localization"): for class c and a layer's maps A^k (k = 1..K channels of h x w),

    alpha_k^c = 1/(h w) sum_{i,j} d y^c / d A^k_ij          (the gradient, averaged over the map)
    L^c       = ReLU( sum_k alpha_k^c A^k )                 (h x w: the layer's resolution)

then upsampled bilinearly to the input's size to lie over it. Saliency (Simonyan et al. 2014):
|d y^c / d x|, the absolute gradient of the class score with respect to the prepared input, one value
per input element. y^c is the class's logit (a binary model with one logit: +z for class 1, -z for 0).
Both equal Captum's ``LayerGradCam(relu_attributions=True)`` and ``Saliency`` (tests check it);
written here in a few lines so that Captum stays a test-only dependency.

Sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps"): a map that explains the model
must change when the model's weights are re-initialised; ``randomised`` makes that model and
``rank_correlation`` (Spearman's) compares the two maps.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlnotes.explain.layers import first, out_of_place, outputs


def class_score(out: torch.Tensor, target: int | list[int]) -> torch.Tensor:
    """y^c per example: the logit of class ``target`` (one per example, or the same for all)."""
    t = torch.as_tensor(target, device=out.device).reshape(-1).expand(out.shape[0])
    if out.shape[-1] == 1:  # binary with one logit z = log p(1) / p(0): class 1 scores z, class 0 -z
        return torch.where(t == 1, out[:, 0], -out[:, 0])
    return out.gather(1, t.reshape(-1, 1)).squeeze(1)


def gradcam(model: nn.Module, x: torch.Tensor, layer: str, target: int | list[int], relu: bool = True) -> np.ndarray:
    """Grad-CAM of class ``target`` at ``layer``'s resolution: (N, h, w), >= 0 (``relu=False``: the
    weighted sum before the ReLU, where the maps speak against the class too)."""
    return gradcam_and_saliency(model, x, layer, target, relu)[0]


def saliency(model: nn.Module, x: torch.Tensor, target: int | list[int]) -> np.ndarray:
    """|d y^c / d x|: the same shape as ``x``."""
    return gradcam_and_saliency(model, x, None, target)[1]


def gradcam_and_saliency(model: nn.Module, x: torch.Tensor, layer: str | None, target: int | list[int],
                         relu: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """Both maps from one forward and one backward pass (Grad-CAM only when ``layer`` is given)."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    with out_of_place(model), outputs(model, [layer] if layer else []) as got:
        score = class_score(model(x), target).sum()
        maps = first(got[layer][1]) if layer else None
        if maps is not None and maps.dim() < 3:
            raise ValueError(f"layer '{layer}' outputs shape {tuple(maps.shape)}; Grad-CAM needs maps (N, C, ...)")
        grads = torch.autograd.grad(score, [x] + ([maps] if layer else []))
    sal = grads[0].abs().float().cpu().numpy()
    if not layer:
        return None, sal
    alpha = grads[1].mean(dim=tuple(range(2, grads[1].dim())), keepdim=True)
    cam = (alpha * maps).sum(1)
    return (F.relu(cam) if relu else cam).detach().float().cpu().numpy(), sal


def upsampled(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map (N, h, w) resized to the input's (H, W) by bilinear interpolation."""
    t = torch.from_numpy(np.ascontiguousarray(cam)).float().unsqueeze(1)
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False).squeeze(1).numpy()


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer's weights re-initialised (torch's own initialisation, seeded)."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in fresh.modules():
            if not list(m.children()) and hasattr(m, "reset_parameters"):  # torch's layers all have one
                m.reset_parameters()
    return fresh


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape: Pearson's correlation of their ranks,
    tied values sharing their mean rank (NaN when one map is constant). Written with numpy: importing
    scipy.stats for it would cost ``dlnotes explain`` half a second (tests compare with scipy's)."""
    ra, rb = _ranks(np.asarray(a, dtype=np.float64).ravel()), _ranks(np.asarray(b, dtype=np.float64).ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def _ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks of ``a``; equal values get the mean of the ranks they span."""
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the highest rank of each distinct value
    return (ends - (counts - 1) / 2.0)[inverse]
