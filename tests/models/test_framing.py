"""Faces that fill the picture: the black frame before detection and the one out-of-image fill rule.

The real-image tests cut each bundled face to its own detector box (``tight_box``, as in an ID photo)
and check that the pipeline finds the same eyes and the same person as in the whole picture. Without
the frame (``frame_margin=0``, the pipeline before the fix) MTCNN's eyes land 14–37% of the eye
distance off on these faces and the AT&T face is not found at all; with it, under 5% (measured
2026-12-02, docs/TRAINING.md "Faces that fill the picture").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.alignment import align_face
from models.detection import Detection, FaceDetector, select_subject
from models.embedder import FaceEmbedder
from models.framing import (
    OUTSIDE_FILL,
    add_frame,
    cut,
    detect_framed,
    frame_width,
    reaches_edge,
    shift_detection,
    tight_box,
)
from models.imageio import decode_image

EYE_TOLERANCE = 0.08  # of the eye distance: framed tight crops measured 0.013–0.048
SAME_FACE_COSINE = 0.70  # tight vs whole picture, framed: measured 0.75–0.83 (unframed: 0.57–0.74)


def test_add_frame_places_the_picture_inside_a_black_border() -> None:
    image = np.full((10, 6, 3), 200, np.uint8)
    framed = add_frame(image, frame_width(image.shape, 0.25))  # 0.25 · 10 = 2.5 → 2 (round half to even)
    assert framed.shape == (14, 10, 3)
    assert (framed[2:12, 2:8] == 200).all()
    border = np.ones(framed.shape[:2], bool)
    border[2:12, 2:8] = False
    assert (framed[border] == np.asarray(OUTSIDE_FILL, np.uint8)).all()
    assert add_frame(image, 0) is image
    with pytest.raises(ValueError, match="margin"):
        frame_width(image.shape, -0.1)


def test_detect_framed_maps_boxes_and_landmarks_back() -> None:
    seen: list[tuple[int, ...]] = []

    def raw(images: list[np.ndarray]) -> list[list[Detection]]:
        # Unframed: a face reaching past the left edge; framed: the same face 30 px into the framed image.
        seen.extend(image.shape for image in images)
        x1 = 30 if images[0].shape[0] == 120 else -5
        return [
            [Detection(box=np.array([x1, 30, 60, 70], np.float32), landmarks=np.full((5, 2), 40, np.float32), score=1)]
            for _ in images
        ]

    out = detect_framed(raw, [np.zeros((100, 80, 3), np.uint8)], margin=0.1)  # frame of 10 px (the longer side)
    assert seen == [(100, 80, 3), (120, 100, 3)]
    np.testing.assert_allclose(out[0][0].box, [20, 20, 50, 60])
    np.testing.assert_allclose(out[0][0].landmarks, np.full((5, 2), 30))
    assert frame_width((30, 8000, 3), 0.25) == 15  # a strip: the long side counts as twice the short one
    assert shift_detection(out[0][0], 0, 0).score == 1


def test_a_centred_face_costs_one_plain_pass_and_no_face_a_framed_one() -> None:
    seen: list[tuple[int, ...]] = []

    def centred(images: list[np.ndarray]) -> list[list[Detection]]:
        seen.extend(image.shape for image in images)
        box = np.array([30, 30, 60, 70], np.float32)  # grown by 10% it stays inside 100x80
        return [[Detection(box=box, landmarks=np.full((5, 2), 40, np.float32), score=1)] for _ in images]

    out = detect_framed(centred, [np.zeros((100, 80, 3), np.uint8)], margin=0.1)
    assert seen == [(100, 80, 3)]
    np.testing.assert_allclose(out[0][0].box, [30, 30, 60, 70])

    seen.clear()
    assert detect_framed(lambda images: [[] for _ in images], [np.zeros((100, 80, 3), np.uint8)], 0.1) == [[]]
    assert not reaches_edge(centred([np.zeros((100, 80, 3), np.uint8)])[0], (100, 80, 3))
    assert reaches_edge([], (100, 80, 3))


def test_alignment_fills_outside_the_picture_with_the_shared_fill(fixture_face_paths: list[Path]) -> None:
    image = decode_image(fixture_face_paths[0])
    # Landmarks at the picture's top-left corner: most of the aligned window lies outside it.
    landmarks = np.array([[0, 0], [12, 0], [6, 7], [1, 14], [11, 14]], np.float32)
    crop = align_face(image, landmarks)
    assert (crop[:20] == np.asarray(OUTSIDE_FILL, np.uint8)).all()


def _eye_errors(image: np.ndarray, whole: Detection, detector: FaceDetector) -> float | None:
    box = tight_box(whole.box, image.shape, 0.0)
    tight = cut(image, box)
    found = select_subject(detector.detect(tight), tight.shape)
    if found is None:
        return None
    eyes = found.landmarks[:2] + np.asarray(box[:2], np.float32)
    eye_distance = np.linalg.norm(whole.landmarks[1] - whole.landmarks[0])
    return float(np.linalg.norm(eyes - whole.landmarks[:2], axis=1).max() / eye_distance)


@pytest.fixture(scope="module")
def unframed_detector() -> FaceDetector:
    return FaceDetector(frame_margin=0.0)


def test_tight_crops_keep_their_eye_landmarks(
    fixture_face_paths: list[Path], fixture_pgm_path: Path, detector: FaceDetector, unframed_detector: FaceDetector
) -> None:
    framed, unframed = [], []
    for path in [*fixture_face_paths, fixture_pgm_path]:
        image = decode_image(path)
        whole = select_subject(detector.detect(image), image.shape)
        assert whole is not None, path.name
        framed.append(_eye_errors(image, whole, detector))
        unframed.append(_eye_errors(image, whole, unframed_detector))
    assert all(e is not None and e < EYE_TOLERANCE for e in framed), framed
    # The fault the frame fixes: without it the eyes are misplaced (or the face is lost).
    lost_or_off = [e is None or e > 2 * EYE_TOLERANCE for e in unframed]
    assert sum(lost_or_off) >= 3, unframed


def test_tight_crop_embeds_like_the_whole_picture(fixture_face_paths: list[Path], embedder: FaceEmbedder) -> None:
    for path in fixture_face_paths:
        image = decode_image(path)
        whole = embedder(image)
        assert whole, path.name
        subject = whole[0]
        tight = cut(image, tight_box(subject.box, image.shape, 0.0))
        faces = embedder(tight)
        assert faces, path.name
        assert float(faces[0].embedding @ subject.embedding) >= SAME_FACE_COSINE, path.name
