"""The tail fit recovers a known Pareto tail, and the gallery threshold derived from it holds the FPIR it was set
for when strangers are searched against simulated galleries of 10 to 10,000 impostor scores."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from models.package import Calibration, ThresholdPoint
from service.domain.threshold import gallery_threshold
from training.evaluation.tail_fit import fit_tail, gpd_pwm

NORMAL = NormalDist()


def _gpd(rng: np.random.Generator, xi: float, sigma: float, n: int) -> np.ndarray:
    u = rng.random(n)
    return sigma / xi * (u ** (-xi) - 1.0)


@pytest.mark.parametrize("xi", [-0.2, 0.1])
def test_pwm_recovers_a_known_pareto(xi: float) -> None:
    estimated_xi, sigma = gpd_pwm(_gpd(np.random.default_rng(1), xi, 0.05, 20_000))
    assert estimated_xi == pytest.approx(xi, abs=0.03)
    assert sigma == pytest.approx(0.05, rel=0.05)


def test_pwm_refuses_too_few_or_negative_excesses() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        gpd_pwm(np.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        gpd_pwm(-np.ones(20))


def _impostor_scores(rng: np.random.Generator, n: int) -> np.ndarray:
    # cosines of 128-d random unit vectors: a bounded, light tail like a face model's impostor scores
    return np.clip(rng.normal(0.0, 1.0 / np.sqrt(128), n), -1, 1)


def test_gallery_threshold_holds_fpir_on_simulated_galleries() -> None:
    rng = np.random.default_rng(0)
    n_pairs = 2_000_000
    scores = np.sort(_impostor_scores(rng, n_pairs))[::-1]
    tail = fit_tail(scores[: n_pairs // 10], n_pairs)
    calibration = Calibration(True, (ThresholdPoint(1e-3, float(scores[n_pairs // 1000])),), "sim", {}, tail)
    target = 1e-2
    for gallery in (10, 100, 1_000, 10_000):
        threshold = gallery_threshold(calibration, target, gallery).threshold
        strangers = 20_000
        # each stranger's best score over the gallery: the max of ``gallery`` fresh impostor scores, drawn as the
        # inverse CDF of the max of n uniforms (exact, without drawing 10^8 scores)
        best_u = rng.random(strangers) ** (1.0 / gallery)
        best = np.array([NORMAL.inv_cdf(u) for u in best_u]) / np.sqrt(128)
        fpir = float((best >= threshold).mean())
        assert target / 2 <= fpir <= target * 2, (gallery, threshold, fpir)
