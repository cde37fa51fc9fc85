"""The face-verification protocol on pair scores, in plain NumPy.

Scores are similarities (cosine: higher means "same person"). Every decision in this module is
**accept (predict "same") when ``score >= threshold``**. The LFW protocol (Huang et al., "Labeled
Faces in the Wild", UMass TR 07-49, 2007): 10 folds; for each fold the threshold is chosen on the
other 9 and accuracy measured on the held-out one; report the mean ± std over the folds. The
structure follows insightface's ``eval/verification.py``, rewritten here.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# far * n is compared with integer counts; the product can land just below an integer
# (0.29 * 100 = 28.999999999999996), which must not cost one allowed false accept.
_FAR_RELATIVE_SLACK = 1e-9


class KFoldAccuracy(NamedTuple):
    """Mean and (population, ``ddof=0``) standard deviation of the per-fold accuracies, and the
    threshold used on each fold, in fold order."""

    mean: float
    std: float
    thresholds: FloatArray


def _validate(scores: ArrayLike, same: ArrayLike) -> tuple[FloatArray, BoolArray]:
    s = np.asarray(scores, dtype=np.float64)
    y_raw = np.asarray(same)
    if s.ndim != 1 or y_raw.shape != s.shape:
        raise ValueError(f"scores and same must be 1-D of equal length, got {s.shape} and {y_raw.shape}")
    if s.size == 0:
        raise ValueError("no pairs")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if y_raw.dtype != np.bool_:
        if not np.isin(y_raw, (0, 1)).all():
            raise ValueError("same must be boolean (or 0/1)")
        y_raw = y_raw.astype(bool)
    return s, y_raw


def _require_both_classes(same: BoolArray) -> None:
    if same.all() or not same.any():
        raise ValueError("need both genuine (same) and impostor (different) pairs")


def allowed_false_accepts(far: float, n_impostors: int) -> int:
    """``floor(far · n)``, the false accepts a threshold at ``far`` may let through (a tiny relative
    slack keeps ``0.29 · 100`` from landing just below 29)."""
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must be in [0, 1], got {far}")
    return math.floor(far * n_impostors * (1.0 + _FAR_RELATIVE_SLACK))


def accuracy(scores: ArrayLike, same: ArrayLike, threshold: float) -> float:
    """Fraction of pairs decided correctly when accepting ``score >= threshold``."""
    s, y = _validate(scores, same)
    return float(np.mean((s >= threshold) == y))


def best_threshold(scores: ArrayLike, same: ArrayLike) -> tuple[float, float]:
    """The threshold maximising accuracy on these pairs, and that accuracy.

    Exact search: every way of splitting the sorted distinct scores into reject-below /
    accept-above is tried (what an infinitely fine grid would find). The threshold returned for
    a split is the midpoint between the highest rejected and the lowest accepted score, so it
    does not sit on a training score; ``-inf`` / ``+inf`` stand for accept-all / reject-all.
    Where several splits reach the best accuracy, the median one (in score order) is taken,
    rather than insightface's first (lowest) one, which biases towards accepting.
    """
    s, y = _validate(scores, same)
    values, inverse = np.unique(s, return_inverse=True)
    genuine = np.bincount(inverse, weights=y, minlength=values.size)
    impostor = np.bincount(inverse, weights=~y, minlength=values.size)
    # Split k (0..V) rejects values[:k] and accepts values[k:].
    rejected_impostors = np.concatenate(([0.0], np.cumsum(impostor)))
    rejected_genuines = np.concatenate(([0.0], np.cumsum(genuine)))
    correct = rejected_impostors + (genuine.sum() - rejected_genuines)
    winners = np.flatnonzero(correct == correct.max())
    k = int(winners[winners.size // 2])
    if k == 0:
        threshold = -math.inf
    elif k == values.size:
        threshold = math.inf
    else:
        low, high = float(values[k - 1]), float(values[k])
        midpoint = low + (high - low) / 2
        threshold = midpoint if midpoint > low else high  # adjacent floats: the midpoint rounds down
    return threshold, float(correct[k] / s.size)


def _fold_ids(n: int, n_folds: int, folds: ArrayLike | None) -> NDArray[np.int64]:
    if folds is None:
        if n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {n_folds}")
        if n < n_folds:
            raise ValueError(f"{n} pairs cannot make {n_folds} folds")
        sizes = [len(part) for part in np.array_split(np.arange(n), n_folds)]
        return np.repeat(np.arange(n_folds), sizes)
    ids = np.asarray(folds)
    if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"folds must be {n} integer fold ids, got shape {ids.shape} and dtype {ids.dtype}")
    if np.unique(ids).size < 2:
        raise ValueError("folds must hold at least two distinct fold ids")
    return ids.astype(np.int64)


def kfold_accuracies(
    scores: ArrayLike, same: ArrayLike, n_folds: int = 10, folds: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray]:
    """Per-fold held-out accuracies and the threshold used for each, folds in ascending id order.

    Without ``folds`` the pairs are cut, in the order given, into ``n_folds`` contiguous folds
    of (nearly) equal size — exactly LFW View 2 when its pairs come in file order. With
    ``folds`` (one integer fold id per pair) those folds are used and ``n_folds`` is ignored.
    Each fold's threshold is :func:`best_threshold` on the pairs of all *other* folds.
    """
    s, y = _validate(scores, same)
    ids = _fold_ids(s.size, n_folds, folds)
    fold_values = np.unique(ids)
    accuracies = np.empty(fold_values.size)
    thresholds = np.empty(fold_values.size)
    for i, fold in enumerate(fold_values):
        test = ids == fold
        thresholds[i], _ = best_threshold(s[~test], y[~test])
        accuracies[i] = np.mean((s[test] >= thresholds[i]) == y[test])
    return accuracies, thresholds


def kfold_accuracy(
    scores: ArrayLike, same: ArrayLike, n_folds: int = 10, folds: ArrayLike | None = None
) -> KFoldAccuracy:
    """``(mean, std, per-fold thresholds)`` of the k-fold protocol; see :func:`kfold_accuracies`."""
    accuracies, thresholds = kfold_accuracies(scores, same, n_folds=n_folds, folds=folds)
    return KFoldAccuracy(float(accuracies.mean()), float(accuracies.std()), thresholds)


def roc_curve(scores: ArrayLike, same: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(far, tar, thresholds)``: one point per distinct score, thresholds descending.

    ``far[i]`` (impostors accepted) and ``tar[i]`` (genuines accepted) are measured at
    ``score >= thresholds[i]``. The first point is ``thresholds[0] = +inf`` (accept nothing:
    far = tar = 0); the last threshold is the lowest score (far = tar = 1).
    """
    s, y = _validate(scores, same)
    _require_both_classes(y)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_value = np.flatnonzero(np.diff(s) != 0)
    ends = np.concatenate((last_of_value, [s.size - 1]))
    true_accepts = np.cumsum(y)[ends]
    false_accepts = np.cumsum(~y)[ends]
    far = np.concatenate(([0.0], false_accepts / (~y).sum()))
    tar = np.concatenate(([0.0], true_accepts / y.sum()))
    thresholds = np.concatenate(([math.inf], s[ends]))
    return far, tar, thresholds


def threshold_at_far(impostor_scores: ArrayLike, far: float) -> float:
    """The smallest impostor score ``t`` with ``#{impostor >= t} / n <= far``.

    Accepting ``score >= t`` then lets at most ``floor(far · n)`` of these impostors in. If no
    impostor score qualifies (``far < 1/n``, e.g. ``far = 0``), this returns ``+inf``: the sample
    is too small to certify that rate; measure on at least ``1/far`` impostor pairs.
    """
    imp = np.asarray(impostor_scores, dtype=np.float64)
    if imp.ndim != 1 or imp.size == 0 or not np.isfinite(imp).all():
        raise ValueError("impostor_scores must be a non-empty 1-D array of finite scores")
    allowed = allowed_false_accepts(far, imp.size)
    values, counts = np.unique(imp, return_counts=True)
    accepted = np.cumsum(counts[::-1])[::-1]  # accepted[i] = #{impostor >= values[i]}
    qualifying = np.flatnonzero(accepted <= allowed)
    return float(values[qualifying[0]]) if qualifying.size else math.inf


def tar_at_far(scores: ArrayLike, same: ArrayLike, far: float) -> tuple[float, float]:
    """``(tar, threshold)`` where the threshold is the smallest *observed* score (genuine or
    impostor) whose false-accept rate ``#{impostor >= threshold} / n_impostors`` is ``<= far``.

    That is the ROC point (:func:`roc_curve`) with the highest TAR at a FAR within the target.
    Because genuine scores are candidates too, the threshold can be lower than
    :func:`threshold_at_far` on the same impostors (which only sees impostor scores) with the
    same FAR and a TAR at least as high. ``(0.0, +inf)`` if only accepting nothing qualifies.
    """
    s, y = _validate(scores, same)
    _require_both_classes(y)
    allowed = allowed_false_accepts(far, int((~y).sum()))
    far_curve, tar_curve, thresholds = roc_curve(s, y)
    false_accepts = np.rint(far_curve * (~y).sum())
    i = int(np.flatnonzero(false_accepts <= allowed)[-1])  # far_curve is non-decreasing
    return float(tar_curve[i]), float(thresholds[i])


def eer(scores: ArrayLike, same: ArrayLike) -> tuple[float, float]:
    """``(eer, threshold)``: the equal error rate, where FAR = FRR (= 1 − TAR).

    Taken at the ROC point (an observed score as threshold) where ``|FAR − FRR|`` is smallest,
    with ``eer = (FAR + FRR) / 2`` there; on n pairs per class this is within ``1/(2n)`` of the
    linearly interpolated crossing.
    """
    far, tar, thresholds = roc_curve(scores, same)
    frr = 1.0 - tar
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2), float(thresholds[i])
