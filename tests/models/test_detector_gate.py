"""The detector's smallest face follows the quality gate (:func:`models.detection.min_face_for_gate`): it still finds
every face whose eye distance the gate accepts, down to the limit, and the same subjects as the 40 px search did on
the 300-image LFW check and AT&T's 400 faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.detection import (
    BOX_WIDTH_PER_EYE_DISTANCE,
    DETECTOR_REACH,
    Detection,
    FaceDetector,
    min_face_for_gate,
    select_subject,
)
from models.imageio import decode_image

GATE_PX = 20.0  # the service's default min_interocular_px
BEFORE_PX = 40  # the smallest face searched before it followed the gate


def eye_distance(det: Detection) -> float:
    return float(np.hypot(*(det.landmarks[1] - det.landmarks[0])))


@pytest.fixture(scope="module")
def gate_detector() -> FaceDetector:
    return FaceDetector(min_face_size=min_face_for_gate(GATE_PX), runtime="onnx")


@pytest.fixture(scope="module")
def before_detector() -> FaceDetector:
    return FaceDetector(min_face_size=BEFORE_PX, runtime="onnx")


def test_the_smallest_face_follows_the_gate() -> None:
    assert min_face_for_gate(GATE_PX) == 56  # floor(1.96 · 20 / 0.7)
    assert min_face_for_gate(0.0) == 12  # P-Net's window: nothing smaller can be searched
    assert min_face_for_gate(30.0) == 84
    sizes = [min_face_for_gate(g) for g in np.arange(0.0, 60.0, 0.5)]
    assert sizes == sorted(sizes)
    # Every face the gate accepts is at least this wide, and the detector reaches this far under what it searches.
    assert min_face_for_gate(GATE_PX) * DETECTOR_REACH <= BOX_WIDTH_PER_EYE_DISTANCE * GATE_PX + 1e-9


def _at_eye_distance(path: Path, detector: FaceDetector, eyes_px: float) -> np.ndarray:
    """The image at ``path`` scaled so that its subject's eyes are ``eyes_px`` apart, on a 160×160 grey frame."""
    image = decode_image(path)
    subject = select_subject(detector.detect(image), image.shape)
    assert subject is not None, path
    factor = eyes_px / eye_distance(subject)
    small = Image.fromarray(image).resize(
        (round(image.shape[1] * factor), round(image.shape[0] * factor)), Image.Resampling.LANCZOS
    )
    frame = Image.new("RGB", (160, 160), (128, 128, 128))
    frame.paste(small, ((160 - small.width) // 2, (160 - small.height) // 2))
    return np.asarray(frame)


def test_faces_at_the_gates_limit_are_still_found(
    fixture_face_paths: list[Path], fixture_pgm_path: Path, gate_detector: FaceDetector, before_detector: FaceDetector
) -> None:
    """Real faces whose eyes are 20.5 px apart (just inside the gate) are found by the 56 px search, at that size."""
    for path in [*fixture_face_paths, fixture_pgm_path]:
        frame = _at_eye_distance(path, before_detector, GATE_PX + 0.5)
        subject = select_subject(gate_detector.detect(frame), frame.shape)
        assert subject is not None, f"{path.name}: the face at the gate's limit was not found"
        assert abs(eye_distance(subject) - (GATE_PX + 0.5)) < 0.15 * GATE_PX, path.name


def _same_subjects(paths: list[Path], before: FaceDetector, after: FaceDetector) -> tuple[int, float]:
    """Asserts both searches find a subject in the same images, the same face (its box overlapping by IoU ≥ 0.7);
    returns the number of subjects and the median landmark difference in eye distances."""
    subjects, shifts = 0, []
    for path in paths:
        image = decode_image(path)
        a = select_subject(before.detect(image), image.shape)
        b = select_subject(after.detect(image), image.shape)
        assert (a is None) == (b is None), f"{path}: subject found by one search only"
        if a is None or b is None:
            continue
        subjects += 1
        x1, y1 = np.maximum(a.box[:2], b.box[:2])
        x2, y2 = np.minimum(a.box[2:], b.box[2:])
        inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
        iou = inter / (a.area + b.area - inter)
        assert iou >= 0.7, f"{path}: another face (box IoU {iou:.2f})"
        shifts.append(float(np.abs(a.landmarks - b.landmarks).max()) / eye_distance(a))
    return subjects, float(np.median(shifts))


@pytest.mark.slow
def test_the_gate_search_finds_the_same_subjects_on_lfw_300(
    lfw_sample_paths: list[Path], before_detector: FaceDetector, gate_detector: FaceDetector
) -> None:
    subjects, median_shift = _same_subjects(lfw_sample_paths, before_detector, gate_detector)
    print(f"LFW 300: {subjects} subjects on both, median landmark difference {median_shift:.4f} eye distances")
    assert subjects >= 297
    assert median_shift < 0.05


@pytest.mark.slow
def test_the_gate_search_finds_the_same_subjects_on_att_400(
    att_dir: Path, before_detector: FaceDetector, gate_detector: FaceDetector
) -> None:
    paths = sorted(att_dir.glob("s*/*.pgm"))
    assert len(paths) == 400
    subjects, median_shift = _same_subjects(paths, before_detector, gate_detector)
    print(f"AT&T 400: {subjects} subjects on both, median landmark difference {median_shift:.4f} eye distances")
    assert subjects == 400
    assert median_shift < 0.05
