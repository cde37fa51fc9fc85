"""Face detection: facenet-pytorch's MTCNN (weights ship inside its wheel), batched, on PyTorch or ONNX Runtime.

torch and facenet-pytorch are imported only by the torch runtime: the ONNX one runs without them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from PIL import Image

from models.device import resolve_device
from models.framing import DEFAULT_FRAME_MARGIN, detect_framed
from models.package import require_torch

if TYPE_CHECKING:
    import torch


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


Runtime = Literal["onnx", "torch"]

BOX_WIDTH_PER_EYE_DISTANCE: Final = 1.96
"""The narrowest MTCNN box per eye distance on real faces: box width / eye distance of the subjects of the 300-image
LFW check and AT&T's 400 faces is 1.96 at the least, 1.99 at the 1st percentile, 2.15 at the median, 2.36 at the
95th (``bench/detector_pyramid.py``, 2026-12-02). A face whose eyes are ``d`` pixels apart is at least ``1.96·d``
pixels wide in the box terms ``min_face_size`` is stated in."""

DETECTOR_REACH: Final = 0.7
"""How far under the smallest face it searches for MTCNN still finds a face, as a fraction of that size: P-Net's
12-pixel window fires on faces smaller than itself. Measured (``bench/detector_pyramid.py``, 2026-12-02) on every
LFW-300 / AT&T-400 subject scaled to a 20.5 px eye distance (boxes ~40–48 px): all 700 found when searching from
40, 48, 56 or 64 px (box / searched size down to 0.62), with landmarks as close to a 20 px search's as from 40 px;
from 80 px (0.5) 2 of 300 and 110 of 400 were lost. 0.7 keeps a margin above the measured 0.62."""


def min_face_for_gate(min_interocular_px: float) -> int:
    """The smallest face side (pixels) the detector has to search for to find every face whose eye distance the
    quality gate accepts (``min_interocular_px`` and more): ``floor(1.96 · min_interocular_px / 0.7)``
    (:data:`BOX_WIDTH_PER_EYE_DISTANCE`, :data:`DETECTOR_REACH`), at least 12 (P-Net's window). 56 px for the
    default 20 px gate. Searching from smaller sizes only finds faces the gate refuses, at the pyramid's dearest
    levels (P-Net's work grows as 1 / min_face_size²)."""
    side = BOX_WIDTH_PER_EYE_DISTANCE * min_interocular_px / DETECTOR_REACH
    return max(12, math.floor(side + 1e-9))


class FaceDetector:
    """MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded
    Convolutional Networks", 2016) returning every face with its five landmarks.

    ``min_face_size`` is the smallest face side searched for, in pixels of the frame the detector
    sees; ``thresholds`` are the three cascade stages' score thresholds. ``runtime`` "torch" runs
    facenet-pytorch's own cascade (the reference), "onnx" the same weights on ONNX Runtime
    (:mod:`models.mtcnn_onnx`, ~1.5× less CPU). ``frame_margin`` is the black frame a picture gets
    before a second detection when a face found in it reaches past its edge
    (:func:`models.framing.detect_framed`; 0: never), as a fraction of its longer side
    (:func:`models.framing.frame_width`). ``max_pixels`` bounds the work per image: a larger (framed)
    picture is first scaled down (antialiased) to that many pixels, so the smallest face found becomes
    ``min_face_size / s`` original pixels for a scale ``s`` (:meth:`detection_scale`); boxes and
    landmarks are always returned in the original image's pixels. An image whose shorter side (as the
    detector sees it) is under ``min_face_size`` cannot hold a face of that size and has none: MTCNN's
    image pyramid would be empty there, and facenet-pytorch raises ``torch.cat(): expected a non-empty
    list of Tensors`` on it (a 1×1 PNG, an 8000×2 strip); such an image is neither framed nor run.
    ``device`` is the torch runtime's (resolved by :func:`models.device.resolve_device`); the ONNX runtime runs
    on the CPU and its ``device`` is ``"cpu"``. Without torch and facenet-pytorch the torch runtime raises
    :class:`models.package.RuntimeUnavailableError`.
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        frame_margin: float = DEFAULT_FRAME_MARGIN,
        *,
        runtime: Runtime = "torch",
        max_pixels: int | None = None,
        threads: int = 1,
    ):
        if frame_margin < 0:
            raise ValueError(f"frame_margin must be >= 0, got {frame_margin}")
        self.device: torch.device | str = "cpu"
        self.runtime = runtime
        self.max_pixels = max_pixels
        self.min_face_size = min_face_size
        self.frame_margin = frame_margin
        if runtime == "onnx":
            from models.mtcnn_onnx import OnnxMTCNN

            self._cascade: Callable[[np.ndarray], list[_Found]] = OnnxMTCNN(
                min_face_size=min_face_size, thresholds=thresholds, factor=factor, threads=threads
            ).detect
        elif runtime == "torch":
            self.device = resolve_device(device)
            require_torch("the torch detector runtime", "facenet_pytorch")
            from facenet_pytorch import MTCNN  # heavy import kept out of `import models`

            mtcnn = MTCNN(
                min_face_size=min_face_size,
                thresholds=list(thresholds),
                factor=factor,
                keep_all=True,
                select_largest=False,
                device=self.device,
            ).eval()
            self._cascade = partial(_run_facenet, mtcnn)
        else:
            raise ValueError(f"unknown detector runtime {runtime!r} (expected 'onnx' or 'torch')")

    def detection_scale(self, height: int, width: int) -> float:
        """The factor (≤ 1) a ``height`` × ``width`` frame is scaled by before detection."""
        if self.max_pixels is None or height * width <= self.max_pixels:
            return 1.0
        return math.sqrt(self.max_pixels / (height * width))

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one RGB ``uint8`` ``(H, W, 3)`` image, most confident first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each image, in its pixels, found as :func:`models.framing.detect_framed` says.
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
        """MTCNN itself on each image as given (scaled within ``max_pixels``)."""
        results: list[list[Detection]] = [[] for _ in images]
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        scaled: list[np.ndarray] = []
        scales: list[float] = []
        for i, image in enumerate(images):
            small, scale = self._scaled(image)
            scaled.append(small)
            scales.append(scale)
            if min(small.shape[0], small.shape[1]) >= self.min_face_size:
                by_shape[small.shape].append(i)
        for indices in by_shape.values():
            found = self._cascade(np.stack([scaled[i] for i in indices]))
            for i, (boxes, scores, points) in zip(indices, found, strict=True):
                dets = [
                    Detection(
                        box=(np.asarray(boxes[k], dtype=np.float32) / scales[i]).astype(np.float32),
                        landmarks=(np.asarray(points[k], dtype=np.float32).reshape(5, 2) / scales[i]).astype(
                            np.float32
                        ),
                        score=float(scores[k]),
                    )
                    for k in range(len(boxes))
                ]
                results[i] = sorted(dets, key=lambda d: d.score, reverse=True)
        return results

    def _scaled(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """``image`` within ``max_pixels`` (antialiased: a box filter, Pillow's fastest that does not alias)."""
        height, width = image.shape[:2]
        scale = self.detection_scale(height, width)
        if scale >= 1.0:
            return image, 1.0
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX, reducing_gap=3.0))
        # The exact ratio per axis after rounding; their mean maps boxes back (they differ by < 1 px / side).
        return small, (size[0] / width + size[1] / height) / 2.0


_Found = tuple[np.ndarray, np.ndarray, np.ndarray]


def _run_facenet(mtcnn: Any, batch: np.ndarray) -> list[_Found]:
    """facenet-pytorch's cascade on equal-size images ``(N, H, W, 3)``: per image boxes ``(K, 4)``, scores
    ``(K,)``, landmarks ``(K, 5, 2)``."""
    import torch

    with torch.inference_mode():
        boxes, probs, points = mtcnn.detect(batch, landmarks=True)
    out: list[_Found] = []
    for b, p, lm in zip(boxes, probs, points, strict=True):
        if b is None:
            out.append((np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)))
        else:
            out.append((np.asarray(b), np.asarray(p, dtype=np.float32), np.asarray(lm)))
    return out


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
