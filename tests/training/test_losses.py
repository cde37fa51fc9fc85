"""The training losses against independent hand computations."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from training.losses import (
    ArcFaceLoss,
    AttributeLoss,
    BatchHardTripletLoss,
    CosFaceLoss,
    MarginSoftmaxLoss,
    build_metric_loss,
    list_metric_losses,
)

# Three class centres on the plane at 0°, 90° and 225° (deliberately not unit length), and three
# embeddings at 30°, 100° and 50° with labels 0, 1, 2. ANGLES[i][j] is the angle in degrees
# between embedding i and centre j, worked out by hand.
CENTRE_DEGREES = [(0.0, 3.0), (90.0, 0.5), (225.0, 2.0)]
EMBEDDING_DEGREES = [(30.0, 2.0), (100.0, 0.7), (50.0, 1.3)]
LABELS = [0, 1, 2]
ANGLES = [
    [30.0, 60.0, 165.0],
    [100.0, 10.0, 125.0],
    [50.0, 40.0, 175.0],  # with m = 0.5 rad (28.6°), θ + m > 180°: ArcFace's fallback branch
]


def polar(points: list[tuple[float, float]]) -> torch.Tensor:
    return torch.tensor(
        [[r * math.cos(math.radians(a)), r * math.sin(math.radians(a))] for a, r in points], dtype=torch.float64
    )


def hand_cross_entropy(target_logit: Callable[[float], float], scale: float) -> float:
    """Mean CE over the three samples, from ANGLES with math only."""
    total = 0.0
    for row, label in zip(ANGLES, LABELS, strict=True):
        logits = [
            scale * (target_logit(math.radians(a)) if j == label else math.cos(math.radians(a)))
            for j, a in enumerate(row)
        ]
        top = max(logits)
        log_sum_exp = top + math.log(sum(math.exp(logit - top) for logit in logits))
        total += log_sum_exp - logits[label]
    return total / len(LABELS)


def arcface_by_hand(margin: float) -> Callable[[float], float]:
    def logit(theta: float) -> float:
        if theta + margin <= math.pi:
            return math.cos(theta + margin)
        return math.cos(theta) - margin * math.sin(margin)

    return logit


def cosface_by_hand(margin: float) -> Callable[[float], float]:
    return lambda theta: math.cos(theta) - margin


def with_centres(loss: MarginSoftmaxLoss, centres: list[tuple[float, float]] = CENTRE_DEGREES) -> MarginSoftmaxLoss:
    loss = loss.double()
    with torch.no_grad():
        loss.weight.copy_(polar(centres))
    return loss


@pytest.mark.parametrize("scale", [1.0, 64.0])
@pytest.mark.parametrize("margin", [0.0, 0.2, 0.5])
def test_arcface_matches_hand_computation(margin: float, scale: float) -> None:
    loss = with_centres(ArcFaceLoss(3, 2, margin=margin, scale=scale))
    value = loss(polar(EMBEDDING_DEGREES), torch.tensor(LABELS))
    assert value.item() == pytest.approx(hand_cross_entropy(arcface_by_hand(margin), scale), abs=1e-5)


@pytest.mark.parametrize("scale", [1.0, 64.0])
@pytest.mark.parametrize("margin", [0.0, 0.35])
def test_cosface_matches_hand_computation(margin: float, scale: float) -> None:
    loss = with_centres(CosFaceLoss(3, 2, margin=margin, scale=scale))
    value = loss(polar(EMBEDDING_DEGREES), torch.tensor(LABELS))
    assert value.item() == pytest.approx(hand_cross_entropy(cosface_by_hand(margin), scale), abs=1e-5)


def test_arcface_two_class_example_by_hand() -> None:
    # The embedding at 30° from its centre, the other centre at 90°: logits s·cos(30° + m) and s·cos(60°).
    loss = with_centres(ArcFaceLoss(2, 2, margin=0.5, scale=64.0), CENTRE_DEGREES[:2])
    target = 64 * math.cos(math.radians(30) + 0.5)
    other = 64 * math.cos(math.radians(60))
    expected = math.log(1 + math.exp(other - target))
    logits = loss.logits(polar([(30.0, 1.0)]), torch.tensor([0]))
    assert logits[0].tolist() == pytest.approx([target, other], abs=1e-9)
    assert loss(polar([(30.0, 1.0)]), torch.tensor([0])).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("margin", [0.1, 0.5, 1.0])
def test_arcface_target_logit_is_monotonic_in_theta(margin: float) -> None:
    theta = torch.linspace(0.0, math.pi, 4001, dtype=torch.float64)
    logit = ArcFaceLoss(2, 2, margin=margin).margin_logit(torch.cos(theta))
    assert (torch.diff(logit) <= 1e-12).all()
    below = theta + margin <= math.pi
    assert torch.allclose(logit[below], torch.cos(theta[below] + margin), atol=1e-6)
    # The check has teeth: the uncorrected cos(θ + m) turns back up past π − m.
    assert (torch.diff(torch.cos(theta + margin)) > 0).any()


@pytest.mark.parametrize("loss_class", [ArcFaceLoss, CosFaceLoss])
def test_zero_margin_is_the_plain_normalised_softmax(loss_class: type[MarginSoftmaxLoss]) -> None:
    torch.manual_seed(0)
    loss = loss_class(7, 5, margin=0.0, scale=30.0).double()
    x, labels = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 7, (16,))
    plain = F.cross_entropy(30.0 * F.normalize(x) @ F.normalize(loss.weight).T, labels)
    assert loss(x, labels).item() == pytest.approx(plain.item(), abs=1e-6)
    base = MarginSoftmaxLoss(7, 5, scale=30.0).double()
    base.weight.data.copy_(loss.weight.data)
    assert base(x, labels).item() == pytest.approx(plain.item(), abs=1e-6)


@pytest.mark.parametrize("loss_class", [ArcFaceLoss, CosFaceLoss])
def test_margin_makes_the_loss_larger(loss_class: type[MarginSoftmaxLoss]) -> None:
    torch.manual_seed(1)
    x, labels = torch.randn(16, 5), torch.randint(0, 7, (16,))
    plain = loss_class(7, 5, margin=0.0)
    margined = loss_class(7, 5)
    margined.weight.data.copy_(plain.weight.data)
    assert margined(x, labels) > plain(x, labels)


@pytest.mark.parametrize("name", ["arcface", "cosface"])
def test_margin_losses_give_finite_gradients_to_embeddings_and_centres(name: str) -> None:
    torch.manual_seed(2)
    loss = build_metric_loss(name, num_classes=6, embedding_size=8)
    x, labels = torch.randn(10, 8, requires_grad=True), torch.randint(0, 6, (10,))
    with torch.no_grad():
        x[0] = loss.weight[labels[0]] * 5  # exactly on its centre: cos θ = 1, where acos' gradient is infinite
    loss(x, labels).backward()
    for grad in (x.grad, loss.weight.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


@pytest.mark.parametrize("loss_class", [ArcFaceLoss, CosFaceLoss])
def test_margin_losses_pass_gradcheck(loss_class: type[MarginSoftmaxLoss]) -> None:
    torch.manual_seed(3)
    loss = loss_class(4, 3, scale=4.0).double()
    x, labels = torch.randn(5, 3, dtype=torch.float64, requires_grad=True), torch.randint(0, 4, (5,))
    weight = loss.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda e, w: functional_call(loss, {"weight": w}, (e, labels)), (x, weight), fast_mode=True
    )


def test_margin_loss_under_autocast_stays_float32() -> None:
    torch.manual_seed(4)
    loss = ArcFaceLoss(5, 8)
    x, labels = torch.randn(6, 8), torch.randint(0, 5, (6,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(x.bfloat16(), labels)
        assert loss.cosine(x.bfloat16()).dtype == torch.float32
    assert torch.isfinite(value)


def test_margin_loss_rejects_bad_shapes_and_settings() -> None:
    loss = ArcFaceLoss(3, 4)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        loss(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        loss(torch.randn(2, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="margin"):
        ArcFaceLoss(3, 4, margin=4.0)
    with pytest.raises(ValueError, match="margin"):
        CosFaceLoss(3, 4, margin=-0.1)
    with pytest.raises(ValueError, match="scale"):
        CosFaceLoss(3, 4, scale=0.0)


# --- batch-hard triplet -------------------------------------------------------------------------


def triplet_by_brute_force(embeddings: np.ndarray, labels: np.ndarray, margin: float) -> float:
    x = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    terms = []
    for a in range(len(x)):
        positives = [np.linalg.norm(x[a] - x[p]) for p in range(len(x)) if p != a and labels[p] == labels[a]]
        negatives = [np.linalg.norm(x[a] - x[n]) for n in range(len(x)) if labels[n] != labels[a]]
        if positives and negatives:
            terms.append(max(0.0, max(positives) - min(negatives) + margin))
    return float(np.mean(terms)) if terms else 0.0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("margin", [0.05, 0.3, 1.0])
def test_triplet_matches_brute_force(seed: int, margin: float) -> None:
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(14, 6))
    labels = rng.integers(0, 5, size=14)  # some classes end up with one sample: those anchors are skipped
    expected = triplet_by_brute_force(embeddings, labels, margin)
    value = BatchHardTripletLoss(margin)(torch.from_numpy(embeddings), torch.from_numpy(labels))
    assert value.item() == pytest.approx(expected, abs=1e-9)


def chord(degrees: float) -> float:
    """Euclidean distance between two unit vectors ``degrees`` apart."""
    return 2 * math.sin(math.radians(degrees) / 2)


def test_triplet_ignores_anchors_without_positive() -> None:
    # 0° and 10° share a label, 100° is alone: only the first two are anchors.
    x = polar([(0.0, 1.0), (10.0, 1.0), (100.0, 1.0)])
    expected = max(0.0, chord(10) - chord(90) + 1.5) / 2 + max(0.0, chord(10) - chord(100) + 1.5) / 2
    assert BatchHardTripletLoss(1.5)(x, torch.tensor([0, 0, 1])).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("labels", [[3, 3, 3, 3], [0, 1, 2, 3], [7]])
def test_triplet_without_valid_anchor_is_zero_with_grad(labels: list[int]) -> None:
    x = torch.randn(len(labels), 4, requires_grad=True)
    value = BatchHardTripletLoss()(x, torch.tensor(labels))
    assert value.item() == 0.0
    value.backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_triplet_gradients_are_finite_with_duplicate_embeddings() -> None:
    torch.manual_seed(5)
    x = torch.randn(6, 4)
    x[1] = x[0]  # a positive pair at distance 0
    x.requires_grad_(True)
    BatchHardTripletLoss(0.5)(x, torch.tensor([0, 0, 1, 1, 2, 2])).backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_triplet_passes_gradcheck() -> None:
    torch.manual_seed(6)
    x = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 0])
    assert torch.autograd.gradcheck(lambda e: BatchHardTripletLoss(1.0)(e, labels), (x,))


# --- attributes ----------------------------------------------------------------------------------


def bce_by_hand(logit: float, target: float, pos_weight: float = 1.0) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(pos_weight * target * math.log(p) + (1 - target) * math.log(1 - p))


NAN = float("nan")
ATTR_LOGITS = [[0.5, -1.0, 2.0], [-0.3, 0.8, 0.0], [1.5, -2.5, -0.7]]
ATTR_TARGETS = [[1.0, 0.0, NAN], [-1.0, 1.0, 0.0], [NAN, -1.0, 1.0]]


@pytest.mark.parametrize("pos_weight", [None, [2.0, 0.5, 3.0]])
def test_attribute_loss_is_bce_over_present_labels(pos_weight: list[float] | None) -> None:
    weights = pos_weight or [1.0, 1.0, 1.0]
    present = [
        bce_by_hand(ATTR_LOGITS[i][j], t, weights[j])
        for i, row in enumerate(ATTR_TARGETS)
        for j, t in enumerate(row)
        if t in (0.0, 1.0)
    ]
    loss = AttributeLoss(3, pos_weight=pos_weight)
    value = loss(torch.tensor(ATTR_LOGITS, dtype=torch.float64), torch.tensor(ATTR_TARGETS, dtype=torch.float64))
    assert len(present) == 5
    assert value.item() == pytest.approx(sum(present) / len(present), abs=1e-9)


def test_missing_attribute_labels_contribute_nothing() -> None:
    logits = torch.tensor(ATTR_LOGITS, requires_grad=True)
    targets = torch.tensor(ATTR_TARGETS)
    value = AttributeLoss(3)(logits, targets)
    value.backward()
    assert logits.grad is not None
    missing = torch.isnan(targets) | (targets < 0)
    assert torch.equal(logits.grad[missing], torch.zeros(int(missing.sum())))
    assert (logits.grad[~missing] != 0).all()
    changed = torch.where(missing, torch.full_like(logits, 50.0), logits.detach())
    assert AttributeLoss(3)(changed, targets).item() == pytest.approx(value.item(), abs=1e-6)


def test_attribute_loss_with_nothing_present_is_zero_with_grad() -> None:
    logits = torch.randn(2, 3, requires_grad=True)
    value = AttributeLoss(3)(logits, torch.tensor([[NAN, -1.0, NAN], [-1.0, -1.0, NAN]]))
    assert value.item() == 0.0
    value.backward()
    assert logits.grad is not None
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_attribute_loss_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        AttributeLoss(3)(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        AttributeLoss(3)(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="above 1"):
        AttributeLoss(3)(torch.zeros(1, 3), torch.tensor([[2.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="pos_weight"):
        AttributeLoss(3, pos_weight=[1.0, 2.0])


# --- registry ------------------------------------------------------------------------------------


def test_registry_builds_every_metric_loss() -> None:
    assert list_metric_losses() == ["arcface", "cosface", "triplet"]
    torch.manual_seed(7)
    x, labels = torch.randn(8, 16), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for name in list_metric_losses():
        value = build_metric_loss(name, num_classes=4, embedding_size=16)(x, labels)
        assert value.ndim == 0
        assert torch.isfinite(value)


def test_registry_passes_config_and_rejects_unknown_names() -> None:
    arcface = build_metric_loss("arcface", 4, 16, margin=0.3, scale=32.0)
    assert isinstance(arcface, ArcFaceLoss)
    assert (arcface.margin, arcface.scale, tuple(arcface.weight.shape)) == (0.3, 32.0, (4, 16))
    triplet = build_metric_loss("triplet", 4, 16, margin=0.2)
    assert isinstance(triplet, BatchHardTripletLoss)
    assert triplet.margin == 0.2
    with pytest.raises(ValueError, match=r"unknown metric loss 'sphereface'; known: arcface, cosface, triplet"):
        build_metric_loss("sphereface", 4, 16)
