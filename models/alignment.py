"""Five-point similarity alignment onto the standard 112×112 face template.

One function, :func:`align_face`, serves both training (``training.prepare``) and the service, so
a face is cropped identically wherever it is embedded.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from PIL import Image

from models.framing import OUTSIDE_FILL

# ArcFace's five-point template for a 112×112 crop: left eye, right eye, nose tip, left and right
# mouth corners (left/right as seen in the image), in pixels.
TEMPLATE_112: Final[np.ndarray] = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def template_for(size: int = 112, padding: int = 0) -> np.ndarray:
    """The five-point template scaled to a ``size``×``size`` face inside ``padding`` pixels of border."""
    return TEMPLATE_112 * (size / 112.0) + padding


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama, 1991) mapping ``src`` points onto ``dst``.

    ``src``, ``dst``: ``(N, 2)`` with N ≥ 2. Returns the ``(2, 3)`` matrix ``[sR | t]`` with
    ``dst ≈ src @ (sR).T + t``; rotation, uniform scale and translation only, no reflection.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"need two matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var < 1e-12:
        raise ValueError("the source points coincide; no similarity transform exists")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection would fit better: forbid it
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112, padding: int = 0) -> np.ndarray:
    """Warp the face with ``landmarks`` (``(5, 2)``, image pixels) onto the template.

    ``image``: RGB ``uint8`` ``(H, W, 3)``. Returns an RGB ``uint8`` crop of
    ``(size + 2·padding, size + 2·padding, 3)``; pixels from outside the image are
    :data:`models.framing.OUTSIDE_FILL` (the one rule for training and the service).
    """
    matrix = estimate_similarity(landmarks, template_for(size, padding))
    # PIL's affine transform maps each *output* pixel back to the input, so it takes the inverse;
    # PIL samples pixel (i, j) at its centre (i + 0.5, j + 0.5) while landmarks use the pixel
    # index as the coordinate, hence the half-pixel shifts around the inverse.
    inverse = _shift(0.5) @ np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]])) @ _shift(-0.5)
    inverse = inverse[:2]
    side = size + 2 * padding
    warped = Image.fromarray(image).transform(
        (side, side),
        Image.Transform.AFFINE,
        data=tuple(inverse.ravel()),
        resample=Image.Resampling.BILINEAR,
        fillcolor=OUTSIDE_FILL,
    )
    return np.array(warped, dtype=np.uint8)  # a writable copy (asarray of a PIL image is read-only)


def _shift(d: float) -> np.ndarray:
    return np.array([[1.0, 0.0, d], [0.0, 1.0, d], [0.0, 0.0, 1.0]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine ``matrix`` to ``(N, 2)`` points."""
    points = np.asarray(points, dtype=np.float64)
    out: np.ndarray = points @ matrix[:, :2].T + matrix[:, 2]
    return out
