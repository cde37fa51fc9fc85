"""The verification protocol on synthetic scores with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.evaluation import (
    accuracy,
    best_threshold,
    eer,
    kfold_accuracies,
    kfold_accuracy,
    roc_curve,
    tar_at_far,
    threshold_at_far,
)


def normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def gaussian_pairs(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Genuine ~ N(0.6, 0.1), impostor ~ N(0.1, 0.1), shuffled together."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate((rng.normal(0.6, 0.1, n_per_class), rng.normal(0.1, 0.1, n_per_class)))
    same = np.arange(2 * n_per_class) < n_per_class
    order = rng.permutation(2 * n_per_class)
    return scores[order], same[order]


def test_kfold_accuracy_reaches_the_bayes_optimum_of_two_gaussians() -> None:
    # Equal variances and priors: the best threshold is the midpoint 0.35, accuracy Φ(0.25 / 0.1).
    scores, same = gaussian_pairs(10_000, seed=0)
    mean, std, thresholds = kfold_accuracy(scores, same)
    assert mean == pytest.approx(normal_cdf(2.5), abs=0.002)
    assert 0 < std < 0.01
    assert thresholds.shape == (10,)
    assert np.allclose(thresholds, 0.35, atol=0.03)


def test_perfectly_separable_scores_give_full_accuracy() -> None:
    rng = np.random.default_rng(1)
    scores = np.concatenate((rng.uniform(0.6, 0.9, 300), rng.uniform(-0.2, 0.4, 300)))
    same = np.arange(600) < 300
    order = rng.permutation(600)
    mean, std, thresholds = kfold_accuracy(scores[order], same[order])
    assert (mean, std) == (1.0, 0.0)
    assert ((thresholds > 0.4) & (thresholds < 0.6)).all()


def test_best_threshold_is_the_midpoint_of_the_gap() -> None:
    threshold, acc = best_threshold([0.1, 0.2, 0.5, 0.7], [False, False, True, True])
    assert (threshold, acc) == (pytest.approx(0.35), 1.0)
    # Two splits tie at 3/4 (0.15 and 0.35): the upper middle one is taken.
    assert best_threshold([0.1, 0.2, 0.3, 0.4], [False, True, False, True]) == (pytest.approx(0.35), 0.75)
    # Only one class: accept or reject everything.
    assert best_threshold([0.3, 0.5], [True, True]) == (-math.inf, 1.0)
    assert best_threshold([0.3, 0.5], [False, False]) == (math.inf, 1.0)


def test_best_threshold_keeps_tied_scores_together() -> None:
    # Two pairs share 0.5 with different truths: no threshold can split them.
    threshold, acc = best_threshold([0.2, 0.5, 0.5, 0.8], [False, False, True, True])
    assert acc == 0.75
    assert accuracy([0.2, 0.5, 0.5, 0.8], [False, False, True, True], threshold) == 0.75


# Fold 0 alone is best split at 0.3, fold 1 alone at 0.7; pooled, neither split is optimal. A
# fold's threshold must come from the *other* fold only, so each fold is scored with the other's
# threshold and gets 50% — any leak of the held-out fold into the choice would show.
FOLD_SCORES = {0: ([0.1, 0.2], [0.4, 0.5]), 1: ([0.55, 0.6], [0.8, 0.9])}  # fold: (impostors, genuines)


def fold_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores, same, folds = [], [], []
    for fold, (impostors, genuines) in FOLD_SCORES.items():
        scores += impostors + genuines
        same += [False] * len(impostors) + [True] * len(genuines)
        folds += [fold] * (len(impostors) + len(genuines))
    return np.array(scores), np.array(same), np.array(folds)


def test_each_fold_threshold_comes_from_the_other_folds_only() -> None:
    scores, same, folds = fold_data()
    accuracies, thresholds = kfold_accuracies(scores, same, n_folds=2)
    assert thresholds == pytest.approx([0.7, 0.3])
    assert accuracies == pytest.approx([0.5, 0.5])
    # Explicit fold ids, pairs shuffled so that folds are no longer contiguous: same answer.
    order = np.random.default_rng(2).permutation(len(scores))
    accuracies, thresholds = kfold_accuracies(scores[order], same[order], folds=folds[order])
    assert thresholds == pytest.approx([0.7, 0.3])
    assert accuracies == pytest.approx([0.5, 0.5])
    # Sanity of the construction: a threshold chosen on everything does better than either.
    assert best_threshold(scores, same)[1] > 0.5


def test_fold_ids_need_not_be_consecutive() -> None:
    scores, same, folds = fold_data()
    _, thresholds = kfold_accuracies(scores, same, folds=np.where(folds == 0, 7, 3))
    assert thresholds == pytest.approx([0.3, 0.7])  # ascending fold id: fold 3 (was 1) first


def test_default_folds_are_contiguous_like_lfw_view2() -> None:
    scores, same = gaussian_pairs(3000, seed=3)
    lfw_folds = np.repeat(np.arange(10), 600)
    default = kfold_accuracy(scores, same)
    explicit = kfold_accuracy(scores, same, folds=lfw_folds)
    assert default.mean == explicit.mean
    assert np.array_equal(default.thresholds, explicit.thresholds)


def test_roc_curve_by_hand() -> None:
    far, tar, thresholds = roc_curve([0.9, 0.8, 0.7, 0.7, 0.1], [True, False, True, False, False])
    assert thresholds.tolist() == [math.inf, 0.9, 0.8, 0.7, 0.1]
    assert tar.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert far == pytest.approx([0.0, 0.0, 1 / 3, 2 / 3, 1.0])


# Ten impostors 0.0, 0.1, ..., 0.9 and ten genuines. Accept iff score >= threshold.
IMPOSTORS = [round(0.1 * i, 1) for i in range(10)]
GENUINES = [0.45, 0.55, 0.65, 0.75, 0.82, 0.85, 0.88, 0.92, 0.95, 0.99]


@pytest.mark.parametrize(
    ("far", "expected_tar", "expected_threshold", "impostor_only_threshold"),
    [
        # At most 1 impostor may pass: any threshold above 0.8; the lowest observed one is the
        # genuine 0.82, which passes 0.82 … 0.99 (6 genuines) and the impostor 0.9 only.
        (0.1, 0.6, 0.82, 0.9),
        (0.25, 0.7, 0.75, 0.8),  # floor(2.5) = 2 impostors (0.8, 0.9) may pass
        (0.0, 0.3, 0.92, math.inf),  # no impostor may pass: 0.92, 0.95, 0.99
        (1.0, 1.0, 0.0, 0.0),  # everything passes
    ],
)
def test_tar_at_far_by_hand(far: float, expected_tar: float, expected_threshold: float, impostor_only_threshold: float):
    scores = np.array(IMPOSTORS + GENUINES)
    same = np.array([False] * 10 + [True] * 10)
    tar, threshold = tar_at_far(scores, same, far)
    assert (tar, threshold) == (pytest.approx(expected_tar), pytest.approx(expected_threshold))
    assert np.mean(scores[~same] >= threshold) <= far
    assert threshold_at_far(IMPOSTORS, far) == pytest.approx(impostor_only_threshold)


def test_tar_at_far_ties_are_accepted() -> None:
    scores = [0.2, 0.5, 0.5, 0.7, 0.5, 0.8]
    same = [False, False, False, False, True, True]
    assert tar_at_far(scores, same, 0.25) == (0.5, 0.7)  # 0.5 would let 3 of 4 impostors in
    assert tar_at_far(scores, same, 0.75) == (1.0, 0.5)  # the genuine 0.5 passes at threshold 0.5
    assert threshold_at_far([0.2, 0.5, 0.5, 0.7], 0.75) == 0.5


def test_far_count_is_not_lost_to_rounding() -> None:
    # 0.29 * 100 = 28.999999999999996 in floating point; 29 false accepts are still allowed.
    impostors = np.arange(100) / 100
    assert threshold_at_far(impostors, 0.29) == pytest.approx(0.71)


def test_eer_of_symmetric_gaussians() -> None:
    scores, same = gaussian_pairs(20_000, seed=4)
    rate, threshold = eer(scores, same)
    assert rate == pytest.approx(normal_cdf(-2.5), abs=0.0015)
    assert threshold == pytest.approx(0.35, abs=0.02)


def test_eer_by_hand() -> None:
    # At 0.65: impostor 0.65 passes (FAR 1/4), genuine 0.6 fails (FRR 1/4).
    assert eer([0.1, 0.2, 0.3, 0.65, 0.6, 0.7, 0.8, 0.9], [False] * 4 + [True] * 4) == (0.25, 0.65)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="equal length"):
        kfold_accuracy([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="boolean"):
        accuracy([0.1, 0.2], [2, 0], 0.5)
    with pytest.raises(ValueError, match="finite"):
        best_threshold([0.1, math.nan], [True, False])
    with pytest.raises(ValueError, match="both"):
        roc_curve([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="far"):
        tar_at_far([0.1, 0.2], [True, False], 1.5)
    with pytest.raises(ValueError, match="folds"):
        kfold_accuracy([0.1, 0.2, 0.3], [True, False, True], folds=[0, 0, 0])
    with pytest.raises(ValueError, match="folds"):
        kfold_accuracy([0.1, 0.2, 0.3], [True, False, True], n_folds=4)
