"""Distillation from dlib's model: the three loss forms against hand computations, the heads they
add (and that export drops), and the teacher embeddings of a real cache (``training.teacher``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from training.config import TrainConfig
from training.model import (
    FaceTrainingModel,
    cosine_distillation,
    regression_distillation,
    similarity_distillation,
)


def test_similarity_distillation_by_hand() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # orthogonal: similarity matrix = identity
    teacher = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])  # cosine 1/sqrt(2) off the diagonal
    expected = 2 * (1 / np.sqrt(2)) ** 2 / 4  # two off-diagonal cells out of four differ
    assert similarity_distillation(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_cosine_distillation_by_hand() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    teacher = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # cosines 1 and 1/sqrt(2)
    expected = ((1 - 1) + (1 - 1 / np.sqrt(2))) / 2
    assert cosine_distillation(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_regression_distillation_by_hand() -> None:
    teacher = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3); spread = mean of 2 and 2 = 2
    predicted = torch.tensor([[1.0, 1.0], [3.0, 4.0]])  # squared errors 1 and 0: mean 0.5
    assert regression_distillation(predicted, teacher).item() == pytest.approx(0.25)
    # Predicting the batch mean scores exactly 1, whatever the descriptors' scale.
    scaled = 10 * teacher
    mean = scaled.mean(dim=0, keepdim=True).expand_as(scaled)
    assert regression_distillation(mean, scaled).item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("mode", "embedding_size", "head"),
    [
        ("similarity", 32, None),
        ("cosine", 32, "linear"),
        ("cosine", 16, None),
        ("regress", 32, "affine"),
        ("regress", 16, "affine"),
    ],
)
def test_distillation_heads_and_their_gradients(mode: str, embedding_size: int, head: str | None) -> None:
    config = TrainConfig(
        width=0.125, embedding_size=embedding_size, distill=mode, distill_weight=2.0, metric="cosface", scale=16.0
    )
    model = FaceTrainingModel(config, num_classes=4, teacher_dim=16)
    if head is None:
        assert model.distill_proj is None
    else:
        assert model.distill_proj is not None and (model.distill_proj.bias is not None) == (head == "affine")
    images = torch.randn(4, 3, 112, 112)
    terms = model(images, torch.tensor([0, 1, 2, 3]), None, torch.randn(4, 16))
    assert set(terms) == {"metric", "distill", "loss"}
    assert terms["loss"].item() == pytest.approx(terms["metric"].item() + 2.0 * terms["distill"].item(), rel=1e-5)
    terms["loss"].backward()
    if model.distill_proj is not None:
        assert model.distill_proj.weight.grad is not None and model.distill_proj.weight.grad.abs().sum() > 0
    # Without a teacher batch the term is simply absent.
    assert "distill" not in model(images, torch.tensor([0, 1, 2, 3]))


def test_unknown_distillation_is_refused() -> None:
    # The config refuses it before any model is built, naming the field and the choices.
    with pytest.raises(ValueError, match="config key 'distill': Input should be 'similarity', 'cosine' or 'regress'"):
        TrainConfig.from_dict({"width": 0.125, "distill": "mimic", "distill_weight": 1.0})


def test_landmark_box_matches_dlib_hog_on_a_celeba_face() -> None:
    from training.teacher import landmark_box

    # MTCNN's landmarks of CelebA 10000_028381.jpg (178x218) and dlib HOG's box there: (46, 86, 135, 176).
    landmarks = [[71.02, 112.25], [109.34, 113.71], [91.72, 135.37], [74.10, 153.47], [105.91, 154.87]]
    left, top, right, bottom = landmark_box(landmarks)
    assert abs(left - 46) <= 3 and abs(top - 86) <= 3 and abs(right - 135) <= 3 and abs(bottom - 176) <= 3
    assert abs((right - left) - (bottom - top)) <= 1  # square (to a pixel of rounding), like HOG's boxes


def test_teacher_rows_follow_the_cache_and_equal_dlib_on_each_image(data_dir: Path, tmp_path: Path) -> None:
    from training.data.sources import image_folder
    from training.evaluation.reference import DlibFaceModel, dlib_available
    from training.prepare import load_cache, prepare
    from training.teacher import compute_teacher

    assert dlib_available(), "dlib reference missing: run ./scripts/bootstrap"
    root = tmp_path / "people"
    lfw = data_dir / "lfw" / "images_deepfunneled"
    for person in ("Aaron_Peirsol", "Abdullah_Gul"):
        (root / person).mkdir(parents=True)
        for file in sorted((lfw / person).iterdir())[:2]:
            shutil.copy(file, root / person / file.name)
    prepare(list(image_folder(root)), tmp_path / "cache", root=root, chunk_size=3, workers=1, progress=False)
    _, rows = load_cache(tmp_path / "cache")
    out = tmp_path / "teacher.npy"
    report = compute_teacher(tmp_path / "cache", root, out, workers=1, chunk_size=3, progress=False)
    vectors = np.load(out)
    assert vectors.shape == (len(rows), 128) and report["faces"] == len(rows) == 4
    assert report["hog_found"] + report["landmark_box_fallback"] == 4
    from models.imageio import decode_image

    model = DlibFaceModel()
    for row, vector in zip(rows, vectors, strict=True):
        expected, found = model.describe(decode_image(root / row["file"]))
        if found:
            np.testing.assert_allclose(vector, expected, atol=1e-5)
    # A second run finds every chunk done and recomputes nothing.
    (tmp_path / "teacher.npy").unlink()
    again = compute_teacher(tmp_path / "cache", root, out, workers=1, chunk_size=3, progress=False)
    assert again["seconds_this_run"] < 5 and np.array_equal(np.load(out), vectors)


def test_the_regression_head_starts_at_the_teacher_mean_and_spares_the_backbone() -> None:
    config = TrainConfig(width=0.125, embedding_size=32, distill="regress", distill_weight=1.0, metric="cosface")
    model = FaceTrainingModel(config, num_classes=4, teacher_dim=16)
    teacher = np.random.default_rng(0).normal(1.0, 0.2, size=(64, 16)).astype(np.float32)
    model.start_distillation_head(teacher)
    batch = torch.from_numpy(teacher[:8])
    terms = model(torch.randn(8, 3, 112, 112), torch.arange(8) % 4, None, batch)
    mean = torch.from_numpy(teacher.mean(axis=0)).expand(8, 16)
    assert terms["distill"].item() == pytest.approx(regression_distillation(mean, batch).item(), rel=1e-5)
    terms["distill"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.backbone.parameters())  # zero map
    assert model.distill_proj is not None and model.distill_proj.weight.grad.abs().sum() > 0  # the map learns
