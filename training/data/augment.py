"""Per-face augmentation of normalised aligned crops on the training device, beside the flip and jitter.

All take and return normalised ``(B, 3, S, S)`` float faces (the package's mean/std 0.5: pixel
``v`` is ``v / 127.5 − 1``) and draw one decision per face with the torch generator the loop seeds:

- :func:`tight_crop`: the photo was cut tight around the face (ID and badge photos), so the aligned
  window reaches past the picture and those pixels are :data:`models.framing.OUTSIDE_FILL`, as the
  service's alignment makes them. The bands are drawn per side up to :data:`TIGHT_BANDS` pixels of
  a 112 crop: the 90th percentiles measured on LFW cut to MTCNN's box + 5% and aligned (top 16,
  left/right 26–27, bottom 0: the box reaches below the chin), rounded up.
- :func:`low_resolution`: down to a random side in ``[min_side, S]`` and back up (bilinear): small,
  distant or half-size faces (CelebA at 89×109).
- :func:`colour`: brightness, contrast and saturation each scaled by ``1 ± strength``.
- :func:`greyscale`: ITU-R BT.601 luma in all three channels (greyscale sources, AT&T, IR cameras).

:func:`augment` applies them in that order from a :class:`training.config.TrainConfig`; with its
defaults (every probability 0) the faces come back untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import torch
import torch.nn.functional as F

from models.framing import OUTSIDE_FILL

if TYPE_CHECKING:
    from training.config import TrainConfig

# Widest band of outside fill per side (top, bottom, left, right), pixels of a 112×112 crop.
TIGHT_BANDS: Final = (20, 8, 30, 30)
LUMA: Final = (0.299, 0.587, 0.114)


def _chosen(images: torch.Tensor, prob: float) -> torch.Tensor:
    """``(B, 1, 1, 1)`` bool: which faces get the augmentation."""
    return (torch.rand(images.shape[0], device=images.device) < prob).view(-1, 1, 1, 1)


def _fill_value(images: torch.Tensor) -> torch.Tensor:
    """:data:`OUTSIDE_FILL` in normalised units, ``(1, 3, 1, 1)``."""
    return (torch.tensor(OUTSIDE_FILL, dtype=images.dtype, device=images.device) / 127.5 - 1.0).view(1, 3, 1, 1)


def tight_crop(images: torch.Tensor, prob: float) -> torch.Tensor:
    """With probability ``prob`` per face, bands of outside fill on each side (see the module docstring)."""
    if prob <= 0:
        return images
    b, _, h, w = images.shape
    scale = torch.tensor([h, h, w, w], dtype=torch.float32, device=images.device) / 112.0
    limits = torch.tensor(TIGHT_BANDS, dtype=torch.float32, device=images.device) * scale
    bands = (torch.rand(b, 4, device=images.device) * (limits + 1)).floor().long()
    rows = torch.arange(h, device=images.device).view(1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    inside = (
        (rows >= bands[:, 0].view(-1, 1, 1))
        & (rows < (h - bands[:, 1]).view(-1, 1, 1))
        & (cols >= bands[:, 2].view(-1, 1, 1))
        & (cols < (w - bands[:, 3]).view(-1, 1, 1))
    ).unsqueeze(1)
    cut = torch.where(inside, images, _fill_value(images))
    return torch.where(_chosen(images, prob), cut, images)


def low_resolution(images: torch.Tensor, prob: float, min_side: int) -> torch.Tensor:
    """With probability ``prob`` per face, down to a side drawn in ``[min_side, S]`` and back up.
    One side per batch (a resize takes one size), the faces that keep theirs untouched."""
    size = images.shape[-1]
    if prob <= 0 or min_side >= size:
        return images
    side = int(torch.randint(min_side, size + 1, (1,)).item())
    small = F.interpolate(images.float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    back = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False).to(images.dtype)
    return torch.where(_chosen(images, prob), back, images)


def colour(images: torch.Tensor, prob: float, strength: float) -> torch.Tensor:
    """With probability ``prob`` per face, brightness, contrast and saturation each × ``1 ± strength``."""
    if prob <= 0 or strength <= 0:
        return images
    b = images.shape[0]
    f = 1.0 + strength * (torch.rand(b, 3, 1, 1, 1, device=images.device, dtype=images.dtype) * 2 - 1)
    x = (images + 1.0) * 0.5  # to [0, 1]
    x = x * f[:, 0]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * f[:, 1] + mean
    grey = _luma(x)
    x = (x - grey) * f[:, 2] + grey
    out = x.clamp(0.0, 1.0) * 2.0 - 1.0
    return torch.where(_chosen(images, prob), out, images)


def _luma(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def greyscale(images: torch.Tensor, prob: float) -> torch.Tensor:
    """With probability ``prob`` per face, its luma in all three channels."""
    if prob <= 0:
        return images
    return torch.where(_chosen(images, prob), _luma(images).expand_as(images), images)


def augment(images: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Every augmentation the config switches on, in the module docstring's order."""
    images = tight_crop(images, config.aug_tight_prob)
    images = low_resolution(images, config.aug_lowres_prob, config.aug_lowres_min_side)
    images = colour(images, config.aug_colour_prob, config.aug_colour_strength)
    return greyscale(images, config.aug_grey_prob)
