"""MTCNN detection: the LFW subject rate on 300 real images, batching, empty images, subject selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.detection import Detection, FaceDetector, select_subject
from models.imageio import decode_image

CENTRE_RADIUS_PX = 35.0


def _box_centre(det: Detection) -> np.ndarray:
    return np.array([(det.box[0] + det.box[2]) / 2.0, (det.box[1] + det.box[3]) / 2.0])


def _check_detection(det: Detection) -> None:
    assert det.box.shape == (4,) and det.landmarks.shape == (5, 2)
    assert 0.0 <= det.score <= 1.0
    x1, y1, x2, y2 = det.box
    assert x2 > x1 and y2 > y1
    # Landmarks inside the (slightly enlarged) box, eyes above the mouth, left eye left of the right eye.
    margin = 0.25 * (x2 - x1)
    assert (det.landmarks[:, 0] > x1 - margin).all() and (det.landmarks[:, 0] < x2 + margin).all()
    assert (det.landmarks[:, 1] > y1 - margin).all() and (det.landmarks[:, 1] < y2 + margin).all()
    assert det.landmarks[0, 0] < det.landmarks[1, 0] and det.landmarks[3, 0] < det.landmarks[4, 0]
    assert det.landmarks[:2, 1].max() < det.landmarks[3:, 1].min()


@pytest.mark.slow
def test_lfw_300_subject_found(lfw_sample_paths: list[Path], detector: FaceDetector) -> None:
    """The subject of 300 deterministic LFW images (first image of every 19th person) is found and centred.

    Three figures are reported: images with at least one face, images with exactly one face, and images whose
    selected subject's box centre lies within 35 px of the image centre (deep-funneled LFW is centred on the
    subject). Only the last is asserted at 99% (297/300). "Exactly one face" is reported, not asserted: LFW's
    news photos often contain bystanders, and raw MTCNN finds exactly one face on only ~84% of them (measured:
    252/300), which is why ``select_subject`` exists.
    """
    assert len(lfw_sample_paths) == 300
    at_least_one = exactly_one = centred = 0
    missed: list[str] = []
    for start in range(0, len(lfw_sample_paths), 25):
        paths = lfw_sample_paths[start : start + 25]
        images = [decode_image(path) for path in paths]
        for path, image, detections in zip(paths, images, detector.detect_batch(images), strict=True):
            at_least_one += bool(detections)
            exactly_one += len(detections) == 1
            subject = select_subject(detections, image.shape)
            centre = np.array([image.shape[1] / 2.0, image.shape[0] / 2.0])
            if subject is not None and np.linalg.norm(_box_centre(subject) - centre) <= CENTRE_RADIUS_PX:
                centred += 1
            else:
                missed.append(path.name)
    n = len(lfw_sample_paths)
    summary = (
        f"LFW {n} images: >=1 face {at_least_one}/{n}, exactly one face {exactly_one}/{n}, "
        f"subject within {CENTRE_RADIUS_PX:.0f} px of the centre {centred}/{n}; missed: {missed}"
    )
    print(summary)
    assert centred >= 297, summary
    assert at_least_one >= centred, summary


def test_detections_on_a_real_face(fixture_face_paths: list[Path], detector: FaceDetector) -> None:
    image = decode_image(fixture_face_paths[0])
    detections = detector.detect(image)
    assert detections
    for det in detections:
        _check_detection(det)
    assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
    subject = select_subject(detections, image.shape)
    assert subject is not None and subject.score > 0.95
    assert np.linalg.norm(_box_centre(subject) - [125.0, 125.0]) <= CENTRE_RADIUS_PX
    assert 50 < subject.box[2] - subject.box[0] < 200


def test_batch_equals_one_by_one(
    fixture_face_paths: list[Path], fixture_pgm_path: Path, detector: FaceDetector
) -> None:
    """Images of different sizes, interleaved: same-size ones share a forward pass; results keep their order."""
    lfw = [decode_image(path) for path in fixture_face_paths[:3]]
    att = decode_image(fixture_pgm_path)  # 92×112
    smaller = np.asarray(Image.fromarray(lfw[1]).resize((200, 200), Image.Resampling.BILINEAR))
    empty = np.full((120, 160, 3), 128, np.uint8)
    images = [lfw[0], att, empty, lfw[1], smaller, lfw[2]]
    batched = detector.detect_batch(images)
    single = [detector.detect(image) for image in images]
    assert len(batched) == len(images)
    assert [len(b) for b in batched] == [len(s) for s in single]
    assert batched[2] == []
    assert all(batched[i] for i in (0, 1, 3, 4, 5))
    for b_dets, s_dets in zip(batched, single, strict=True):
        for b, s in zip(b_dets, s_dets, strict=True):
            np.testing.assert_allclose(b.box, s.box, atol=1e-3)
            np.testing.assert_allclose(b.landmarks, s.landmarks, atol=1e-3)
            assert b.score == pytest.approx(s.score, abs=1e-5)
    # The resized copy holds the same face: its landmarks scale with the image.
    scaled = select_subject(batched[4], smaller.shape)
    original = select_subject(batched[3], lfw[1].shape)
    assert scaled is not None and original is not None
    assert np.abs(scaled.landmarks * 250 / 200 - original.landmarks).mean() < 3.0


def test_empty_batch(detector: FaceDetector) -> None:
    assert detector.detect_batch([]) == []


@pytest.mark.parametrize("kind", ["grey", "noise", "black"])
def test_no_face(kind: str, detector: FaceDetector) -> None:
    rng = np.random.default_rng(0)
    image = {
        "grey": np.full((250, 250, 3), 128, np.uint8),
        "noise": rng.integers(0, 256, (250, 250, 3), dtype=np.uint8),
        "black": np.zeros((64, 96, 3), np.uint8),
    }[kind]
    assert detector.detect(image) == []


@pytest.mark.parametrize(
    "image",
    [np.zeros((50, 50), np.uint8), np.zeros((50, 50, 4), np.uint8), np.zeros((50, 50, 3), np.float32)],
    ids=["grey", "rgba", "float"],
)
def test_detector_refuses_non_rgb_uint8(image: np.ndarray, detector: FaceDetector) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect_batch([np.zeros((50, 50, 3), np.uint8), image])


def _det(box: tuple[float, float, float, float], score: float = 0.99) -> Detection:
    x1, y1, x2, y2 = box
    cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
    landmarks = np.array(
        [
            [cx - w / 4, cy - w / 6],
            [cx + w / 4, cy - w / 6],
            [cx, cy],
            [cx - w / 5, cy + w / 4],
            [cx + w / 5, cy + w / 4],
        ],
        np.float32,
    )
    return Detection(box=np.array(box, np.float32), landmarks=landmarks, score=score)


def test_select_subject_prefers_a_centred_face_over_a_larger_one_at_the_edge() -> None:
    shape = (480, 640, 3)
    centred = _det((280, 200, 360, 280), score=0.90)  # 80 px, at the centre
    edge = _det((0, 0, 110, 110), score=0.999)  # 110 px (larger, more confident), in the corner
    assert edge.area > centred.area
    assert select_subject([edge, centred], shape) is centred
    assert select_subject([centred, edge], shape) is centred


def test_select_subject_prefers_a_close_up_over_a_tiny_centred_face() -> None:
    shape = (480, 640, 3)
    tiny = _det((310, 230, 330, 250))  # 20 px at the exact centre
    close_up = _det((150, 60, 450, 360))  # 300 px, slightly off centre
    assert select_subject([tiny, close_up], shape) is close_up


def test_select_subject_edge_cases() -> None:
    assert select_subject([], (100, 100, 3)) is None
    only = _det((0, 0, 10, 10))
    assert select_subject([only], (100, 100, 3)) is only
    assert _det((10, 20, 40, 60)).area == pytest.approx(1200.0)
    assert Detection(np.array([5, 5, 1, 1], np.float32), np.zeros((5, 2), np.float32), 0.5).area == 0.0


@pytest.mark.parametrize(("height", "width"), [(1, 1), (2, 8000), (8000, 2), (12, 500), (19, 19)])
def test_an_image_smaller_than_the_smallest_face_has_no_face(
    height: int, width: int, detector: FaceDetector, fixture_face_paths: list[Path]
) -> None:
    """MTCNN's image pyramid is empty below ``min_face_size`` and facenet-pytorch raised inside ``torch.cat``."""
    tiny = np.full((height, width, 3), 128, np.uint8)
    assert detector.detect(tiny) == []
    face = decode_image(fixture_face_paths[0])
    batch = detector.detect_batch([tiny, face, tiny])
    assert batch[0] == [] and batch[2] == [] and len(batch[1]) >= 1
