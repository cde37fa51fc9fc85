"""ONNX Runtime against PyTorch on real faces: the same subjects (boxes and landmarks within 0.5 px) on the 300-image
LFW check and on AT&T's 400 faces, and the same embeddings (cosine ≥ 0.9999) for real aligned faces; the detector's
pixel budget finds the same subject in a 6000×6000 frame as in a small one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.alignment import align_face
from models.detection import Detection, FaceDetector, select_subject
from models.embedder import FaceEmbedder
from models.imageio import decode_image
from models.package import ModelPackage, ModelPackageError, load_package
from models.quality import measure_quality

# Both cascades resample with the same windows and weights, so they differ only by float summation order
# (measured: at most 1e-4 px). Half a pixel still lets a real difference (another pyramid level, NMS choosing
# another box) fail the test.
BOX_TOLERANCE_PX = 0.5
MIN_COSINE = 0.9999
MIN_FACE_PX = 40  # below the service's 56 px (min_face_for_gate): more pyramid levels to agree on


@pytest.fixture(scope="module")
def onnx_detector() -> FaceDetector:
    return FaceDetector(min_face_size=MIN_FACE_PX, runtime="onnx")


@pytest.fixture(scope="module")
def torch_detector() -> FaceDetector:
    return FaceDetector(min_face_size=MIN_FACE_PX, runtime="torch")


def _same_subjects(paths: list[Path], torch_detector: FaceDetector, onnx_detector: FaceDetector) -> tuple[int, float]:
    """Asserts the two runtimes find the same faces and subject in each image; returns (subjects, worst px)."""
    worst, subjects = 0.0, 0
    for path in paths:
        image = decode_image(path)
        reference, fast = torch_detector.detect(image), onnx_detector.detect(image)
        assert len(fast) == len(reference), f"{path}: {len(fast)} faces on onnx, {len(reference)} on torch"
        for a, b in zip(reference, fast, strict=True):
            assert abs(a.score - b.score) < 1e-3, path
            worst = max(worst, float(np.abs(a.box - b.box).max()), float(np.abs(a.landmarks - b.landmarks).max()))
        ref_subject, fast_subject = select_subject(reference, image.shape), select_subject(fast, image.shape)
        assert (ref_subject is None) == (fast_subject is None), path
        subjects += ref_subject is not None
    assert worst <= BOX_TOLERANCE_PX, f"worst box/landmark difference {worst:.4f} px"
    return subjects, worst


@pytest.mark.slow
def test_onnx_detector_matches_torch_on_lfw_300(
    lfw_sample_paths: list[Path], torch_detector: FaceDetector, onnx_detector: FaceDetector
) -> None:
    subjects, worst = _same_subjects(lfw_sample_paths, torch_detector, onnx_detector)
    print(f"LFW 300: {subjects} subjects on both runtimes, worst difference {worst:.5f} px")
    assert subjects >= 297


@pytest.mark.slow
def test_onnx_detector_matches_torch_on_att_400(
    att_dir: Path, torch_detector: FaceDetector, onnx_detector: FaceDetector
) -> None:
    paths = sorted(att_dir.glob("s*/*.pgm"))
    assert len(paths) == 400
    subjects, worst = _same_subjects(paths, torch_detector, onnx_detector)
    print(f"AT&T 400: {subjects} subjects on both runtimes, worst difference {worst:.5f} px")


def test_onnx_detector_matches_torch_on_fixtures(
    fixture_face_paths: list[Path], fixture_pgm_path: Path, torch_detector: FaceDetector, onnx_detector: FaceDetector
) -> None:
    subjects, _ = _same_subjects([*fixture_face_paths, fixture_pgm_path], torch_detector, onnx_detector)
    assert subjects == 5


def test_onnx_embeddings_match_torch_on_real_faces(
    default_package: ModelPackage, lfw_sample_paths: list[Path], onnx_detector: FaceDetector
) -> None:
    crops = []
    for path in lfw_sample_paths[:40]:
        image = decode_image(path)
        subject = select_subject(onnx_detector.detect(image), image.shape)
        assert subject is not None, path
        crops.append(align_face(image, subject.landmarks, size=112))
    batch = np.stack(crops)
    reference = FaceEmbedder(default_package, detector=onnx_detector, runtime="torch")
    fast = FaceEmbedder(default_package, detector=onnx_detector, runtime="onnx")
    for flip in (False, True):
        a, b = reference.embed_crops(batch, flip_tta=flip), fast.embed_crops(batch, flip_tta=flip)
        assert b.shape == a.shape == (40, 512) and b.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
        cosine = (a * b).sum(axis=1)
        assert cosine.min() >= MIN_COSINE, f"flip={flip}: worst cosine {cosine.min():.6f}"
    # Batch size does not change an embedding (one at a time = all at once).
    np.testing.assert_allclose(fast.embed_crops(batch[:1]), fast.embed_crops(batch)[:1], atol=1e-5)


def test_the_shipped_package_carries_its_graph(default_package: ModelPackage) -> None:
    assert default_package.onnx_graph is not None
    assert default_package.source is not None
    total = sum(f.stat().st_size for f in default_package.source.iterdir())
    assert total < 40 * 1024 * 1024


def test_a_package_without_a_graph_refuses_the_onnx_runtime(tmp_path: Path, default_package: ModelPackage) -> None:
    assert default_package.source is not None
    for name in ("weights.safetensors", "calibration.json", "MODEL_CARD.md", "model.json"):
        (tmp_path / name).write_bytes((default_package.source / name).read_bytes())
    tampered = (tmp_path / "model.json").read_text().replace('"onnx"', '"onnx_removed"')
    (tmp_path / "model.json").write_text(tampered)
    bare = load_package(tmp_path)
    assert bare.onnx_graph is None and bare.model_id == default_package.model_id
    with pytest.raises(ModelPackageError, match="export-onnx"):
        FaceEmbedder(bare, detector=FaceDetector(runtime="onnx"), runtime="onnx")
    # A graph that is not the one model.json vouches for is refused.
    (tmp_path / "model.json").write_text(tampered.replace('"onnx_removed"', '"onnx"'))
    (tmp_path / "embedder.onnx").write_bytes(b"not the graph")
    with pytest.raises(ModelPackageError, match="sha256"):
        load_package(tmp_path)


def _subject(detector: FaceDetector, image: np.ndarray) -> Detection:
    subject = select_subject(detector.detect(image), image.shape)
    assert subject is not None
    return subject


def test_a_huge_frame_is_scaled_to_the_budget_and_finds_the_same_subject(fixture_face_paths: list[Path]) -> None:
    """A 6000×6000 (36 MP) frame holding a real face ×4 (~450 px) is detected at 1 MP; the subject's landmarks, in
    the original pixels, agree with those found at full resolution in a 1000×1000 crop around it."""
    face = Image.open(fixture_face_paths[0]).convert("RGB").resize((1000, 1000), Image.Resampling.BICUBIC)
    huge = np.full((6000, 6000, 3), 90, np.uint8)
    top, left = 2300, 3100
    huge[top : top + 1000, left : left + 1000] = np.asarray(face)
    budget = FaceDetector(min_face_size=MIN_FACE_PX, runtime="onnx", max_pixels=1_000_000)
    assert budget.detection_scale(6000, 6000) == pytest.approx(1 / 6)
    assert budget.detection_scale(480, 640) == 1.0
    found = _subject(budget, huge)
    reference = _subject(FaceDetector(min_face_size=MIN_FACE_PX, runtime="onnx"), np.asarray(face))
    eyes = np.hypot(*(reference.landmarks[1] - reference.landmarks[0]))
    shifted = reference.landmarks + np.array([left, top], np.float32)
    # At 1/6 of the resolution a landmark is good to a few detection pixels: within 10% of the eye distance.
    assert np.abs(found.landmarks - shifted).max() < 0.1 * eyes
    assert measure_quality(found.landmarks, found.score, np.zeros((112, 112, 3), np.uint8)).interocular_px > 100
