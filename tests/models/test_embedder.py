"""``FaceEmbedder`` on the shipped (untrained) package: unit norm, batching, flip-TTA, inputs, errors.

The placeholder's embeddings mean nothing about identity, but everything tested here is a property of the
pipeline, not of training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models.detection import Detection, FaceDetector
from models.embedder import Face, FaceEmbedder
from models.imageio import ImageLimits, ImageTooLargeError, NotAnImageError, decode_image
from models.package import ModelPackage


@pytest.fixture(scope="module")
def faces(embedder: FaceEmbedder, fixture_face_paths: list[Path]) -> list[list[Face]]:
    return embedder.process_batch(fixture_face_paths)


@pytest.fixture(scope="module")
def crops(faces: list[list[Face]]) -> np.ndarray:
    return np.stack([face.crop for image_faces in faces for face in image_faces])


def test_faces_are_complete(embedder: FaceEmbedder, faces: list[list[Face]]) -> None:
    assert len(faces) == 4
    for image_faces in faces:
        assert image_faces, "each bundled LFW image shows a face"
        assert [f.score for f in image_faces] == sorted((f.score for f in image_faces), reverse=True)
        for face in image_faces:
            assert face.box.shape == (4,) and face.landmarks.shape == (5, 2)
            assert face.crop.shape == (112, 112, 3) and face.crop.dtype == np.uint8
            assert face.embedding.shape == (embedder.embedding_size,) and face.embedding.dtype == np.float32
            assert np.isfinite(face.embedding).all()
            assert face.quality.det_score == pytest.approx(face.score)
            assert face.quality.blur > 0


def test_embeddings_are_unit_norm(faces: list[list[Face]]) -> None:
    norms = np.array([np.linalg.norm(f.embedding) for image_faces in faces for f in image_faces])
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_embeddings_differ_between_people(faces: list[list[Face]]) -> None:
    # Even random weights map different faces to different points; equal vectors would mean a broken pipeline.
    first = np.stack([image_faces[0].embedding for image_faces in faces])
    cosines = first @ first.T
    off_diagonal = cosines[~np.eye(len(first), dtype=bool)]
    assert off_diagonal.max() < 0.999, cosines


def test_embed_crops_batched_equals_one_by_one(embedder: FaceEmbedder, crops: np.ndarray) -> None:
    batched = embedder.embed_crops(crops)
    single = np.concatenate([embedder.embed_crops(crop[None]) for crop in crops])
    assert batched.shape == (len(crops), embedder.embedding_size)
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_embed_crops_across_batch_boundaries(
    embedder: FaceEmbedder, default_package: ModelPackage, detector: FaceDetector, crops: np.ndarray
) -> None:
    small_batches = FaceEmbedder(default_package, detector=detector, batch_size=3)
    many = np.concatenate([crops, crops[::-1], crops])  # several batches of 3 and a ragged last one
    expected = np.concatenate(
        [embedder.embed_crops(crops), embedder.embed_crops(crops[::-1]), embedder.embed_crops(crops)]
    )
    np.testing.assert_allclose(small_batches.embed_crops(many), expected, atol=1e-5)


def test_process_batch_equals_one_by_one(
    embedder: FaceEmbedder, fixture_face_paths: list[Path], faces: list[list[Face]]
) -> None:
    """Batched MTCNN differs from single-image MTCNN by float rounding (~3e-5 px, measured), which can flip the
    rounding of a few crop pixels; embeddings then agree to ~4e-5, not bit for bit. Given the same detections,
    they agree to 1e-5 (tested through ``faces_from_detections``)."""
    single = [embedder(path) for path in fixture_face_paths]
    assert [len(s) for s in single] == [len(b) for b in faces]
    for batched_faces, single_faces in zip(faces, single, strict=True):
        for b, s in zip(batched_faces, single_faces, strict=True):
            np.testing.assert_allclose(b.landmarks, s.landmarks, atol=1e-3)
            np.testing.assert_allclose(b.embedding, s.embedding, atol=2e-4)
            assert float(b.embedding @ s.embedding) > 0.99999
    arrays = [decode_image(path) for path in fixture_face_paths]
    detections = [[Detection(f.box, f.landmarks, f.score) for f in image_faces] for image_faces in faces]
    together = embedder.faces_from_detections(arrays, detections)
    apart = [embedder.faces_from_detections([a], [d])[0] for a, d in zip(arrays, detections, strict=True)]
    for t_faces, a_faces in zip(together, apart, strict=True):
        for t, a in zip(t_faces, a_faces, strict=True):
            np.testing.assert_array_equal(t.crop, a.crop)
            np.testing.assert_allclose(t.embedding, a.embedding, atol=1e-5)
    for t_faces, b_faces in zip(together, faces, strict=True):
        for t, b in zip(t_faces, b_faces, strict=True):
            np.testing.assert_allclose(t.embedding, b.embedding, atol=1e-5)


def test_flip_tta(embedder: FaceEmbedder, crops: np.ndarray) -> None:
    """With flip-TTA the embedding is normalise(net(x) + net(mirror(x))).

    The untrained network is far from mirror-symmetric but its outputs share a large common component, so
    flipped and plain embeddings agree only roughly: cosine 0.92–0.98 measured on the bundled faces.
    """
    plain = embedder.embed_crops(crops, flip_tta=False)
    flipped = embedder.embed_crops(crops, flip_tta=True)
    np.testing.assert_allclose(np.linalg.norm(flipped, axis=1), 1.0, atol=1e-5)
    cosines = (plain * flipped).sum(axis=1)
    print(f"cosine(flip-TTA, plain) on {len(crops)} crops: {np.round(cosines, 4).tolist()}")
    assert ((cosines > 0.5) & (cosines < 0.99999)).all(), cosines
    # Mirror symmetry: a crop and its mirror image give the same flip-TTA embedding.
    np.testing.assert_allclose(embedder.embed_crops(crops[:, :, ::-1], flip_tta=True), flipped, atol=1e-5)
    # An independent computation with the network itself.
    x = torch.from_numpy(crops.copy()).permute(0, 3, 1, 2).float() / 255.0
    x = (x - 0.5) / 0.5
    with torch.inference_mode():
        expected = F.normalize(embedder.network(x) + embedder.network(torch.flip(x, dims=[3])), dim=1).numpy()
    np.testing.assert_allclose(flipped, expected, atol=1e-5)


def test_flip_tta_default_comes_from_the_constructor(
    default_package: ModelPackage, detector: FaceDetector, crops: np.ndarray
) -> None:
    with_flip = FaceEmbedder(default_package, detector=detector, flip_tta=True)
    without = FaceEmbedder(default_package, detector=detector, flip_tta=False)
    np.testing.assert_allclose(with_flip.embed_crops(crops), without.embed_crops(crops, flip_tta=True), atol=1e-6)
    np.testing.assert_allclose(with_flip.embed_crops(crops, flip_tta=False), without.embed_crops(crops), atol=1e-6)


@pytest.mark.parametrize("kind", ["grey", "noise"])
def test_image_without_a_face(embedder: FaceEmbedder, kind: str) -> None:
    image = (
        np.full((200, 200, 3), 128, np.uint8)
        if kind == "grey"
        else np.random.default_rng(5).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    )
    assert embedder(image) == []
    assert embedder.process_batch([image, image]) == [[], []]


def test_mixed_batch_keeps_order(embedder: FaceEmbedder, fixture_face_paths: list[Path]) -> None:
    grey = np.full((250, 250, 3), 128, np.uint8)
    result = embedder.process_batch([grey, fixture_face_paths[1], grey])
    assert result[0] == [] and result[2] == []
    alone = embedder(fixture_face_paths[1])
    assert len(result[1]) == len(alone)
    np.testing.assert_allclose(result[1][0].embedding, alone[0].embedding, atol=2e-4)


def test_empty_inputs(embedder: FaceEmbedder) -> None:
    assert embedder.process_batch([]) == []
    empty = embedder.embed_crops(np.zeros((0, 112, 112, 3), np.uint8))
    assert empty.shape == (0, embedder.embedding_size)


@pytest.mark.parametrize(
    "shape", [(112, 112, 3), (2, 96, 112, 3), (2, 112, 112, 1), (2, 3, 112, 112), (2, 224, 224, 3)]
)
def test_crops_of_the_wrong_shape(embedder: FaceEmbedder, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="aligned crops"):
        embedder.embed_crops(np.zeros(shape, np.uint8))


def test_all_input_kinds_give_the_same_embedding(embedder: FaceEmbedder, fixture_face_paths: list[Path]) -> None:
    path = fixture_face_paths[2]
    inputs = {
        "path": path,
        "str": str(path),
        "bytes": path.read_bytes(),
        "pil": Image.open(path),
        "ndarray": decode_image(path),
    }
    embeddings = {}
    for name, source in inputs.items():
        found = embedder(source)
        assert len(found) >= 1, name
        embeddings[name] = found[0].embedding
    for name, embedding in embeddings.items():
        np.testing.assert_allclose(embedding, embeddings["path"], atol=1e-6, err_msg=name)


def test_decoding_errors_propagate(embedder: FaceEmbedder, tmp_path: Path) -> None:
    with pytest.raises(NotAnImageError):
        embedder(b"definitely not an image")
    with pytest.raises(NotAnImageError):
        embedder(tmp_path / "missing.jpg")
    tight = FaceEmbedder(embedder.package, detector=embedder.detector, image_limits=ImageLimits(max_pixels=100))
    with pytest.raises(ImageTooLargeError):
        tight(np.zeros((20, 20, 3), np.uint8))


def test_properties(embedder: FaceEmbedder, default_package: ModelPackage) -> None:
    assert embedder.model_id == default_package.model_id
    assert embedder.input_size == 112
    assert embedder.embedding_size == 512
    assert not embedder.network.training


def test_analyse_picks_the_central_face_as_subject(embedder: FaceEmbedder, fixture_face_paths: list[Path]) -> None:
    face = decode_image(fixture_face_paths[0])  # 250×250, the subject in the middle
    small = np.asarray(Image.fromarray(decode_image(fixture_face_paths[1])).resize((110, 110)))
    canvas = np.full((400, 600, 3), 128, np.uint8)
    canvas[75:325, 175:425] = face  # centred
    canvas[10:120, 480:590] = small  # a smaller bystander in the corner
    result = embedder.analyse(canvas)
    assert (result.width, result.height) == (600, 400)
    assert len(result.faces) >= 2
    assert result.subject is not None and result.subject_index is not None
    x1, y1, x2, y2 = result.subject.box
    assert 175 <= (x1 + x2) / 2 <= 425 and 75 <= (y1 + y2) / 2 <= 325
    empty = embedder.analyse(np.full((200, 200, 3), 128, np.uint8))
    assert empty.faces == [] and empty.subject is None


def test_a_one_pixel_png_or_strip_has_no_face(embedder: FaceEmbedder) -> None:
    """Section 5 of issue 15: a 1×1 PNG or a 1-pixel-high strip raised a bare ValueError inside MTCNN."""
    import io

    from PIL import Image

    def png(height: int, width: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(np.full((height, width, 3), 200, np.uint8)).save(buffer, format="PNG")
        return buffer.getvalue()

    assert embedder(png(1, 1)) == []
    assert embedder.process_batch([png(1, 4000), png(4000, 1)]) == [[], []]
    analysis = embedder.analyse(png(1, 1))
    assert analysis.faces == [] and analysis.subject_index is None
