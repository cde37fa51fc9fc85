"""One uploaded image → its subject's face, quality verdict and embedding, with the time of each stage.

The request path of DESIGN.md up to the embedding: decode (size and pixel limits) → detect → pick the subject →
align and measure → quality gate → embed. Only the subject is embedded: a bystander's embedding would cost a
network pass and decide nothing. Blocking (torch, PIL): callers run it in a worker thread.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np

from models.alignment import align_face
from models.detection import Detection, select_subject
from models.embedder import FaceEmbedder
from models.imageio import decode_image
from models.quality import FaceQuality, measure_quality


class QualityIssue(enum.StrEnum):
    """Why a face is not good enough to enrol or to decide on (stable codes)."""

    NO_FACE = "no_face"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "face_too_small"
    LOW_DETECTOR_SCORE = "low_detector_score"
    TOO_BLURRED = "face_too_blurred"
    POSE_TOO_LARGE = "pose_too_large"


@dataclass(frozen=True, slots=True)
class QualityGate:
    """Thresholds on the subject's quality. ``several_faces_ratio`` applies at enrolment only: a second face
    whose eye distance is at least that fraction of the subject's makes "whose face is this?" a real question.
    At a door, people queue behind each other; the subject (large, central) is the one deciding."""

    min_interocular_px: float = 20.0
    min_det_score: float = 0.90
    min_blur: float = 15.0
    max_yaw: float = 40.0
    max_pitch: float = 35.0
    several_faces_ratio: float = 0.6

    def issue(self, quality: FaceQuality) -> QualityIssue | None:
        """The first threshold ``quality`` misses, checked from the most to the least fundamental."""
        if quality.interocular_px < self.min_interocular_px:
            return QualityIssue.TOO_SMALL
        if quality.det_score < self.min_det_score:
            return QualityIssue.LOW_DETECTOR_SCORE
        if quality.blur < self.min_blur:
            return QualityIssue.TOO_BLURRED
        if abs(quality.yaw) > self.max_yaw or abs(quality.pitch) > self.max_pitch:
            return QualityIssue.POSE_TOO_LARGE
        return None

    def crowded(self, subject: Detection, detections: list[Detection]) -> bool:
        """Whether another face is large enough, next to the subject, to make the picture ambiguous."""
        own = _eye_distance(subject)
        return any(det is not subject and _eye_distance(det) >= self.several_faces_ratio * own for det in detections)


@dataclass(frozen=True, slots=True)
class SubjectFace:
    """The analysed subject of one image. ``embedding`` is ``None`` when the gate refused the face (not embedded)."""

    width: int
    height: int
    face_count: int
    issue: QualityIssue | None
    box: np.ndarray | None = None
    quality: FaceQuality | None = None
    crop: np.ndarray | None = None
    embedding: np.ndarray | None = None

    @property
    def usable(self) -> bool:
        return self.issue is None and self.embedding is not None


Timings = MutableMapping[str, float]


def analyse_subject(
    embedder: FaceEmbedder, data: bytes, gate: QualityGate, *, enrolment: bool, timings: Timings | None = None
) -> SubjectFace:
    """Decode ``data``, find its subject, gate its quality and embed it.

    ``timings`` (when given) receives the seconds spent in ``decode``, ``detect``, ``align`` and ``embed``, added to
    what it holds (so frames of one request sum up). Raises :class:`models.imageio.ImageError` for a bad image.
    """
    times: Timings = timings if timings is not None else {}
    started = time.perf_counter()
    array = decode_image(data, embedder.image_limits)
    _lap(times, "decode", started)
    return analyse_array(embedder, array, gate, enrolment=enrolment, timings=times)


def analyse_array(
    embedder: FaceEmbedder, array: np.ndarray, gate: QualityGate, *, enrolment: bool, timings: Timings | None = None
) -> SubjectFace:
    """:func:`analyse_subject` on an image decoded already (RGB ``uint8`` ``(H, W, 3)``)."""
    times: Timings = timings if timings is not None else {}
    started = time.perf_counter()
    detections = embedder.detector.detect(array)
    subject = select_subject(detections, array.shape)
    started = _lap(times, "detect", started)
    height, width = array.shape[:2]
    if subject is None:
        return SubjectFace(width=width, height=height, face_count=0, issue=QualityIssue.NO_FACE)
    crop = align_face(array, subject.landmarks, size=embedder.input_size)
    quality = measure_quality(subject.landmarks, subject.score, crop)
    issue = gate.issue(quality)
    if issue is None and enrolment and gate.crowded(subject, detections):
        issue = QualityIssue.SEVERAL_FACES
    started = _lap(times, "align", started)
    face = SubjectFace(
        width=width, height=height, face_count=len(detections), issue=issue, box=subject.box, quality=quality, crop=crop
    )
    if issue is not None:
        return face
    embedding = embedder.embed_crops(crop[None])[0]
    _lap(times, "embed", started)
    return dataclasses.replace(face, embedding=embedding)


def _eye_distance(det: Detection) -> float:
    left, right = det.landmarks[0], det.landmarks[1]
    return math.hypot(float(right[0] - left[0]), float(right[1] - left[1]))


def _lap(times: Timings, stage: str, started: float) -> float:
    now = time.perf_counter()
    times[stage] = times.get(stage, 0.0) + (now - started)
    return now
