"""Per-face quality measures: size, detector confidence, sharpness and head pose."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from models.alignment import TEMPLATE_112

# Where the nose tip sits between the eye line (0) and the mouth line (1) on a frontal face,
# taken from the alignment template so that pitch is 0 for a template-perfect face.
_FRONTAL_NOSE_RATIO = float(
    (TEMPLATE_112[2, 1] - TEMPLATE_112[:2, 1].mean()) / (TEMPLATE_112[3:, 1].mean() - TEMPLATE_112[:2, 1].mean())
)


@dataclass(frozen=True)
class FaceQuality:
    """Quality figures of one detected face.

    ``interocular_px``: distance between the eye centres in the original image (pixels).
    ``det_score``: detector confidence in [0, 1]. ``blur``: variance of the Laplacian of the
    aligned grey crop (higher is sharper; under ~30 is visibly blurred on 112×112 crops).
    ``yaw``/``pitch``/``roll``: head pose estimated from the five landmarks, in degrees; a rough,
    geometry-only estimate good to ~10° that serves as a gate, not a measurement.
    """

    interocular_px: float
    det_score: float
    blur: float
    yaw: float
    pitch: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def laplacian_variance(crop: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of an RGB or grey ``uint8`` crop."""
    grey = crop.astype(np.float64)
    if grey.ndim == 3:
        grey = grey @ np.array([0.299, 0.587, 0.114])
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    return float(lap.var())


def estimate_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees from five landmarks (eyes, nose, mouth corners).

    Roll is the angle of the eye line. Yaw comes from how far the nose tip sits off the
    midline between the eyes (relative to half the eye distance); pitch from where the nose sits
    between eye line and mouth line compared with a frontal face. Positive yaw: the face turns to
    the image's right; positive pitch: the face tilts down.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    left_eye, right_eye, nose, mouth_left, mouth_right = lm
    eye_vec = right_eye - left_eye
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    # Undo roll so that the remaining offsets are measured along the face's own axes.
    c, s = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rot = np.array([[c, -s], [s, c]])
    eyes_mid = (left_eye + right_eye) / 2.0
    mouth_mid = (mouth_left + mouth_right) / 2.0
    nose_r = rot @ (nose - eyes_mid)
    mouth_r = rot @ (mouth_mid - eyes_mid)
    half_eye = max(float(np.linalg.norm(eye_vec)) / 2.0, 1e-6)
    yaw = math.degrees(math.asin(float(np.clip(nose_r[0] / (2.0 * half_eye), -1.0, 1.0))))
    face_height = max(float(mouth_r[1]), 1e-6)
    ratio = float(nose_r[1]) / face_height
    pitch = math.degrees(math.asin(float(np.clip((ratio - _FRONTAL_NOSE_RATIO) * 2.0, -1.0, 1.0))))
    return yaw, pitch, roll


def measure_quality(landmarks: np.ndarray, det_score: float, aligned_crop: np.ndarray) -> FaceQuality:
    """All quality figures of one face."""
    lm = np.asarray(landmarks, dtype=np.float64)
    yaw, pitch, roll = estimate_pose(lm)
    return FaceQuality(
        interocular_px=float(np.linalg.norm(lm[1] - lm[0])),
        det_score=float(det_score),
        blur=laplacian_variance(aligned_crop),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
    )
