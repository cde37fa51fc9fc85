"""Face detection: facenet-pytorch's MTCNN (weights ship inside its wheel), batched."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.device import resolve_device
from models.framing import DEFAULT_FRAME_MARGIN, detect_framed


@dataclass(frozen=True)
class Detection:
    """One face: ``box`` ``(4,)`` x1, y1, x2, y2; ``landmarks`` ``(5, 2)`` left eye, right eye, nose,
    left and right mouth corner (as seen in the image), in pixels; ``score`` in [0, 1]."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


class FaceDetector:
    """MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded
    Convolutional Networks", 2016) returning every face with its five landmarks.

    ``min_face_size`` is the smallest face side searched for, in pixels; ``thresholds`` are the
    three cascade stages' score thresholds; ``frame_margin`` the black frame every picture gets
    before detection (:func:`models.framing.detect_framed`; 0: none), as a fraction of its longer
    side (:func:`models.framing.frame_width`).
    An image whose shorter side is under ``min_face_size`` cannot hold a face of that size and has none:
    MTCNN's image pyramid would be empty there, and facenet-pytorch raises ``torch.cat(): expected a
    non-empty list of Tensors`` on it (a 1×1 PNG, an 8000×2 strip); such an image is neither framed nor run.
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        frame_margin: float = DEFAULT_FRAME_MARGIN,
    ):
        from facenet_pytorch import MTCNN  # heavy import kept out of `import models`

        if frame_margin < 0:
            raise ValueError(f"frame_margin must be >= 0, got {frame_margin}")
        self.device = resolve_device(device)
        self.min_face_size = min_face_size
        self.frame_margin = frame_margin
        self._mtcnn = MTCNN(
            min_face_size=min_face_size,
            thresholds=list(thresholds),
            factor=factor,
            keep_all=True,
            select_largest=False,
            device=self.device,
        ).eval()

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one RGB ``uint8`` ``(H, W, 3)`` image, most confident first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each image, in its pixels, found in the framed image (:mod:`models.framing`).
        Images of the same size go through the network together; an image smaller than
        ``min_face_size`` on either side has none (it is not run)."""
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        runnable = [i for i, image in enumerate(images) if min(image.shape[0], image.shape[1]) >= self.min_face_size]
        found = detect_framed(self._detect_raw, [images[i] for i in runnable], self.frame_margin)
        results: list[list[Detection]] = [[] for _ in images]
        for i, dets in zip(runnable, found, strict=True):
            results[i] = dets
        return results

    def _detect_raw(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """MTCNN itself on each image as given."""
        results: list[list[Detection]] = [[] for _ in images]
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, image in enumerate(images):
            by_shape[image.shape].append(i)
        for indices in by_shape.values():
            batch = np.stack([images[i] for i in indices])
            with torch.inference_mode():
                boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
            for i, b, p, lm in zip(indices, boxes, probs, points, strict=True):
                if b is None:
                    continue
                dets = [
                    Detection(
                        box=np.asarray(b[k], dtype=np.float32),
                        landmarks=np.asarray(lm[k], dtype=np.float32).reshape(5, 2),
                        score=float(p[k]),
                    )
                    for k in range(len(b))
                ]
                results[i] = sorted(dets, key=lambda d: d.score, reverse=True)
        return results


def select_subject(detections: Sequence[Detection], image_shape: tuple[int, ...]) -> Detection | None:
    """The face the picture is *of*: large and near the centre.

    Each face scores ``sqrt(area) · (1 − 0.75 · d)`` where ``d`` is the distance of its box centre
    from the image centre over half the image diagonal, so a bystander's larger face at the edge
    loses to the centred subject, and a tiny face in the middle loses to a close-up.
    """
    if not detections:
        return None
    h, w = image_shape[:2]
    centre = np.array([w / 2.0, h / 2.0])
    half_diag = max(float(np.hypot(w, h)) / 2.0, 1.0)

    def score(det: Detection) -> float:
        box_centre = np.array([(det.box[0] + det.box[2]) / 2.0, (det.box[1] + det.box[3]) / 2.0])
        d = min(float(np.linalg.norm(box_centre - centre)) / half_diag, 1.0)
        return float(np.sqrt(det.area)) * (1.0 - 0.75 * d)

    return max(detections, key=score)
