"""Similarity estimation and five-point alignment, on exact synthetic geometry and on real LFW faces."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from models.alignment import TEMPLATE_112, align_face, estimate_similarity, template_for, transform_points
from models.detection import FaceDetector, select_subject

if TYPE_CHECKING:
    from tests.models.conftest import Subject


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    theta = np.radians(angle_deg)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return np.hstack([scale * rotation, [[tx], [ty]]])


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_points", [2, 5, 40])
def test_estimate_similarity_recovers_a_known_transform(seed: int, n_points: int) -> None:
    rng = np.random.default_rng(seed)
    truth = _similarity(rng.uniform(-179, 179), rng.uniform(0.1, 8.0), *rng.uniform(-500, 500, size=2))
    src = rng.uniform(-100, 300, size=(n_points, 2))
    dst = transform_points(src, truth)
    matrix = estimate_similarity(src, dst)
    assert matrix.shape == (2, 3)
    np.testing.assert_allclose(matrix, truth, rtol=0, atol=1e-9 * max(1.0, np.abs(truth).max()))
    np.testing.assert_allclose(transform_points(src, matrix), dst, atol=1e-7)


def test_estimate_similarity_is_least_squares_under_noise() -> None:
    rng = np.random.default_rng(11)
    truth = _similarity(30.0, 2.0, 5.0, -7.0)
    src = rng.uniform(0, 100, size=(200, 2))
    dst = transform_points(src, truth) + rng.normal(0, 0.5, size=(200, 2))
    matrix = estimate_similarity(src, dst)
    np.testing.assert_allclose(matrix[:, :2], truth[:, :2], atol=0.01)
    np.testing.assert_allclose(matrix[:, 2], truth[:, 2], atol=0.3)
    # The least-squares optimum fits the noisy points at least as well as the true transform does.
    fitted_sse = ((transform_points(src, matrix) - dst) ** 2).sum()
    assert fitted_sse <= ((transform_points(src, truth) - dst) ** 2).sum()


def test_transform_points_applies_rotation_scale_and_translation() -> None:
    matrix = _similarity(90.0, 2.0, 10.0, 20.0)
    np.testing.assert_allclose(transform_points(np.array([[1.0, 0.0], [0.0, 1.0]]), matrix), [[10, 22], [8, 20]])


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (np.ones((5, 2)) * 3.0, TEMPLATE_112),  # every source point coincides
        (np.zeros((1, 2)), np.zeros((1, 2))),  # a single point
        (TEMPLATE_112, TEMPLATE_112[:4]),  # counts differ
        (np.zeros((5, 3)), np.zeros((5, 3))),  # 3-D points
        (TEMPLATE_112.ravel(), TEMPLATE_112.ravel()),  # flat
    ],
    ids=["coincident", "one-point", "count-mismatch", "3d", "flat"],
)
def test_estimate_similarity_rejects_degenerate_input(src: np.ndarray, dst: np.ndarray) -> None:
    with pytest.raises(ValueError):
        estimate_similarity(src, dst)


@pytest.mark.parametrize("seed", range(5))
def test_estimate_similarity_never_reflects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    src = rng.uniform(0, 100, size=(6, 2))
    mirrored = src * np.array([-1.0, 1.0]) + rng.uniform(-50, 50, size=2)  # a reflection fits exactly
    linear = estimate_similarity(src, mirrored)[:, :2]
    scale = np.sqrt(abs(np.linalg.det(linear)))
    assert np.linalg.det(linear) > 0, "the fitted transform reflects"
    np.testing.assert_allclose(linear.T @ linear, scale**2 * np.eye(2), atol=1e-9 * scale**2)


@pytest.mark.parametrize(("size", "padding"), [(112, 0), (112, 56), (224, 10)])
def test_template_landmarks_map_exactly_onto_the_template(size: int, padding: int) -> None:
    # Landmarks that are an exact similarity image of the template are placed exactly on it.
    landmarks = transform_points(TEMPLATE_112, _similarity(-23.0, 1.9, 140.5, 77.25))
    target = template_for(size, padding)
    matrix = estimate_similarity(landmarks, target)
    np.testing.assert_allclose(transform_points(landmarks, matrix), target, atol=1e-9)
    np.testing.assert_allclose(template_for(size, padding), TEMPLATE_112 * size / 112 + padding)


def _blob_image(shape: tuple[int, int], points: np.ndarray, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    grey = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) for x, y in points)
    grey8 = (np.clip(grey, 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(grey8[:, :, None], 3, axis=2)


def _centroids(grey: np.ndarray, points: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: grey.shape[0], : grey.shape[1]].astype(np.float64)
    found = []
    for x, y in points:
        weight = grey * (((xx - x) ** 2 + (yy - y) ** 2) <= radius**2)
        found.append([(weight * xx).sum() / weight.sum(), (weight * yy).sum() / weight.sum()])
    return np.array(found)


@pytest.mark.parametrize("angle", [0.0, -25.0])
@pytest.mark.parametrize("face_scale", [1.0, 4.0, 0.5], ids=["same-size", "x4", "x0.5"])
def test_align_face_puts_landmark_pixels_on_the_template(face_scale: float, angle: float) -> None:
    """Bright blobs drawn at the landmarks land on the template points of the crop.

    Coordinates are pixel indices (pixel centres at integers), as MTCNN's landmarks and the template are.
    ``face_scale`` is how much larger than the template the face is in the source image. With the matrix
    converted to PIL's convention (pixel centres at +0.5) the blob centres land within 0.025 px; passing the
    index-convention inverse straight to PIL shifts them by up to 0.7 px, depending on scale and rotation.
    """
    landmarks = transform_points(TEMPLATE_112, _similarity(angle, face_scale, 60.3, 40.7))
    side = int(landmarks.max() + 80)
    image = _blob_image((side, side), landmarks, sigma=2.0 * face_scale)
    crop = align_face(image, landmarks)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    found = _centroids(crop[:, :, 0].astype(np.float64), TEMPLATE_112, radius=5.0)
    error = np.abs(found - TEMPLATE_112).max()
    assert error < 0.1, f"blob centres off the template by up to {error:.3f} px: {np.round(found - TEMPLATE_112, 3)}"


def test_align_face_padding_and_size() -> None:
    image = np.full((300, 300, 3), 200, np.uint8)
    landmarks = transform_points(TEMPLATE_112, _similarity(0.0, 1.0, 90.0, 90.0))
    crop = align_face(image, landmarks, size=112, padding=20)
    assert crop.shape == (152, 152, 3)
    crop = align_face(image, landmarks, size=224)
    assert crop.shape == (224, 224, 3)
    # Outside the source image the crop is black.
    corner = align_face(image, np.array([[5.0, 5.0], [40.0, 5.0], [22.0, 25.0], [8.0, 45.0], [37.0, 45.0]]))
    assert corner[0, 0].tolist() == [0, 0, 0]
    assert corner[111, 111].tolist() == [200, 200, 200]


def test_redetected_landmarks_land_on_the_template(lfw_subjects: list[Subject], detector: FaceDetector) -> None:
    """Detect → align (with 56 px of context) → detect again on the crop: the five landmarks must come back
    where the alignment put them.

    Two figures per image (mean over the five points, in pixels of the 112 px face):
    - against the original landmarks warped by the alignment matrix: tests the warp itself; what remains is
      MTCNN's own repeatability (about 1.2 px mean, measured);
    - against the template: adds the similarity fit's residual (real faces are not exact similarity images of
      the template, and MTCNN's mouth corners sit wider and higher than ArcFace's template; about 2.9 px mean).
    Measured on the first 20 sample images: 1.20 mean / 3.27 worst, and 2.91 mean / 4.53 worst.
    """
    padding = 56
    target = template_for(112, padding)
    to_warped, to_template = [], []
    for subject in lfw_subjects[:20]:
        crop = align_face(subject.image, subject.detection.landmarks, padding=padding)
        again = select_subject(detector.detect(crop), crop.shape)
        assert again is not None, f"no face in the aligned crop of {subject.path.name}"
        warped = transform_points(subject.detection.landmarks, estimate_similarity(subject.detection.landmarks, target))
        to_warped.append(np.linalg.norm(again.landmarks - warped, axis=1).mean())
        to_template.append(np.linalg.norm(again.landmarks - target, axis=1).mean())
    summary = (
        f"re-detected landmarks vs warped originals: mean {np.mean(to_warped):.2f} px, worst image "
        f"{np.max(to_warped):.2f} px; vs template: mean {np.mean(to_template):.2f} px, worst image "
        f"{np.max(to_template):.2f} px (n={len(to_warped)})"
    )
    print(summary)
    assert np.mean(to_warped) <= 2.0 and np.max(to_warped) <= 4.5, summary
    assert np.mean(to_template) <= 3.75 and np.max(to_template) <= 6.0, summary
