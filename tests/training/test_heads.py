"""Fine-tuning from a trained backbone: a model package as ``init_from``, and heads that start where the
backbone is (``init_heads: fit``, training.heads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from training.checkpoint import initialise_from
from training.config import TrainConfig
from training.data.dataset import synthetic_arrays
from training.export import make_untrained_package
from training.heads import fit_regression, imprint_centres
from training.loop import embed_arrays, first_per_class, fit_heads, train
from training.losses.registry import build_metric_loss
from training.model import FaceTrainingModel


def tiny_config(out: Path, **overrides: object) -> TrainConfig:
    """A run small enough for the CPU in seconds: synthetic faces, the narrowest network."""
    values: dict[str, object] = {"synthetic": True, "synthetic_identities": 8, "val_identities": 2, "width": 0.125}
    values.update(embedding_size=64, batch_size=16, scale=16.0, metric="cosface", out=str(out), progress=False)
    values.update(device="cpu", **overrides)
    return TrainConfig.from_dict(values)


def test_imprinted_centres_are_each_class_s_normalised_mean_embedding() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0, 1, 2])
    rng = np.random.default_rng(0)  # three clusters of unit rows
    embeddings = (rng.normal(size=(3, 8))[labels] + 0.3 * rng.normal(size=(12, 8))).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    metric = build_metric_loss("cosface", 4, 8, margin=0.35, scale=16.0)  # class 3 has no face
    before = metric.weight.detach().clone()
    assert imprint_centres(metric, embeddings, labels) == 3
    for c in range(3):
        mean = embeddings[labels == c].mean(axis=0)
        np.testing.assert_allclose(metric.weight[c].detach().numpy(), mean / np.linalg.norm(mean), atol=1e-6)
    torch.testing.assert_close(metric.weight[3], before[3], rtol=0, atol=0)  # left as it was
    # So every face now scores highest against its own class's centre.
    assert (metric.cosine(torch.from_numpy(embeddings)).detach().argmax(dim=1).numpy() == labels).all()


def test_imprinting_refuses_a_loss_without_centres_and_shapes_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="class centres"):
        imprint_centres(build_metric_loss("triplet", 4, 8, margin=0.3), np.zeros((2, 8)), np.zeros(2, int))
    with pytest.raises(ValueError, match="do not fit"):
        imprint_centres(build_metric_loss("cosface", 4, 8), np.zeros((2, 6)), np.zeros(2, int))


def test_the_regression_map_fit_recovers_an_affine_map_and_reports_the_loss_the_training_term_gives() -> None:
    from training.model import regression_distillation

    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    true_w, true_b = rng.normal(size=(16, 4)), rng.normal(size=4) + 3.0  # an offset cone, like dlib's
    noise = 0.01 * rng.normal(size=(500, 4))
    y = x @ true_w + true_b + noise
    proj = nn.Linear(16, 4)
    loss = fit_regression(proj, x.astype(np.float32), y.astype(np.float32), ridge=1e-6)
    np.testing.assert_allclose(proj.weight.detach().numpy(), true_w.T, atol=0.02)
    np.testing.assert_allclose(proj.bias.detach().numpy(), true_b, atol=0.02)
    with torch.no_grad():
        term = regression_distillation(proj(torch.from_numpy(x).float()), torch.from_numpy(y).float())
    assert loss == pytest.approx(float(term), rel=1e-3) and loss < 0.01
    with pytest.raises(ValueError, match="do not fit"):
        fit_regression(proj, x[:, :8].astype(np.float32), y.astype(np.float32))


@pytest.mark.filterwarnings("ignore::models.package.UntrainedModelWarning")
def test_a_model_package_starts_the_backbone_and_every_head_stays_fresh(tmp_path: Path) -> None:
    package = make_untrained_package(tmp_path / "pkg", width=0.125, embedding_size=64)
    config = tiny_config(tmp_path / "run", attr_weight=0.5)
    model = FaceTrainingModel(config, num_classes=8)
    fresh = initialise_from(model, tmp_path / "pkg")
    assert fresh == ["attr_head", "metric"]
    for key, value in package.network.state_dict().items():  # the package's float16 weights, as float32
        torch.testing.assert_close(model.backbone.state_dict()[key], value.to(model.backbone.state_dict()[key].dtype))
    with pytest.raises(ValueError, match="shapes differ"):  # another width
        initialise_from(FaceTrainingModel(tiny_config(tmp_path / "w", width=0.25), num_classes=8), tmp_path / "pkg")


def test_fit_heads_imprints_centres_and_fits_the_map_onto_cached_teacher_rows(tmp_path: Path) -> None:
    from training.model import regression_distillation

    data = synthetic_arrays(6, 4, 6, seed=0)  # 4 faces per class: up to 3 of each start its centre
    config = tiny_config(tmp_path / "run", distill="regress", distill_weight=1.0)
    model = FaceTrainingModel(config, data.num_classes, teacher_dim=16)
    emb = embed_arrays(model.backbone, data.crops, torch.device("cpu"))
    # A teacher that is an affine function of the student's own embedding: the fitted map must find it.
    data.teacher = (emb @ np.random.default_rng(2).normal(size=(64, 16)) + 3.0).astype(np.float32)
    fit_heads(model, data, torch.device("cpu"), teacher_net=None)
    centres = F.normalize(model.metric.weight.detach(), dim=1).numpy()
    used = first_per_class(data.labels, 3)
    for c in range(data.num_classes):
        mean = emb[used][data.labels[used] == c].mean(axis=0)
        np.testing.assert_allclose(centres[c], mean / np.linalg.norm(mean), atol=1e-5)
    assert model.distill_proj is not None
    with torch.no_grad():
        term = regression_distillation(model.distill_proj(torch.from_numpy(emb)), torch.from_numpy(data.teacher))
    assert float(term) < 0.05  # the zero map it replaced scores 1


def test_first_per_class_keeps_the_first_k_rows_of_every_label_in_row_order() -> None:
    labels = np.array([2, 0, 2, 1, 0, 2, 0, 2])
    assert first_per_class(labels, 2).tolist() == [0, 1, 2, 3, 4]
    assert first_per_class(labels, 1).tolist() == [0, 1, 3]
    assert first_per_class(labels, 9).tolist() == list(range(8))


@pytest.mark.filterwarnings("ignore::models.package.UntrainedModelWarning")
def test_a_run_from_a_package_with_fitted_heads_trains_and_writes_its_checkpoint(tmp_path: Path) -> None:
    make_untrained_package(tmp_path / "pkg", width=0.125, embedding_size=64)
    config = tiny_config(tmp_path / "run", epochs=1, init_from=str(tmp_path / "pkg"), init_heads="fit")
    run = train(config)
    assert (run / "checkpoint.pt").exists() and (run / "epochs.jsonl").exists()
