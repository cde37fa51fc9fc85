"""The threshold in force: the gallery-aware one rises with the gallery and falls back to the fixed per-pair one
when asked (or when the package has no tail); an override wins. On the shipped package's calibration too."""

from __future__ import annotations

import pytest

from models.package import Calibration, ModelPackage, ThresholdPoint
from models.tail import ImpostorTail, per_comparison_far
from service.domain.threshold import ThresholdPolicy, gallery_threshold

TAIL = ImpostorTail(
    table=((0.20, 1e-1), (0.28, 1e-2), (0.35, 1e-3)), fit_score=0.35, fit_far=1e-3, xi=-0.1, sigma=0.04, pairs=10**6
)
CALIBRATION = Calibration(True, (ThresholdPoint(1e-3, 0.35),), "test", {}, TAIL)


def test_threshold_rises_with_the_gallery() -> None:
    thresholds = [gallery_threshold(CALIBRATION, 1e-3, n).threshold for n in (1, 10, 100, 1_000, 10_000, 100_000)]
    assert thresholds == sorted(thresholds) and len(set(thresholds)) == len(thresholds)
    one = gallery_threshold(CALIBRATION, 1e-3, 1)
    assert one.threshold == pytest.approx(0.35) and one.per_comparison_far == pytest.approx(1e-3)
    big = gallery_threshold(CALIBRATION, 1e-3, 100_000)
    assert big.gallery_size == 100_000 and big.basis == "fpir"
    assert TAIL.far_at(big.threshold) == pytest.approx(per_comparison_far(1e-3, 100_000), rel=1e-6)


def test_a_looser_fpir_gives_a_lower_threshold() -> None:
    assert gallery_threshold(CALIBRATION, 1e-2, 1000).threshold < gallery_threshold(CALIBRATION, 1e-3, 1000).threshold


def test_policy_bases() -> None:
    policy = ThresholdPolicy(CALIBRATION, target_fpir=1e-3, target_far=1e-3, far_threshold=0.35)
    assert policy.follows_gallery and policy.for_gallery(500).basis == "fpir"
    fixed = ThresholdPolicy(CALIBRATION, target_fpir=None, target_far=1e-3, far_threshold=0.35)
    assert {fixed.for_gallery(n).threshold for n in (1, 10**5)} == {0.35} and fixed.for_gallery(3).basis == "far"
    no_tail = Calibration(True, CALIBRATION.thresholds, "old", {})
    old = ThresholdPolicy(no_tail, target_fpir=1e-3, target_far=1e-3, far_threshold=0.35)
    assert not old.follows_gallery and old.for_gallery(10**4).threshold == 0.35
    with pytest.raises(ValueError, match="no impostor score tail"):
        gallery_threshold(no_tail, 1e-3, 10)
    manual = ThresholdPolicy(CALIBRATION, target_fpir=1e-3, target_far=1e-3, far_threshold=0.35, override=0.6)
    assert manual.for_gallery(10**5).threshold == 0.6 and manual.for_gallery(1).basis == "override"


def test_shipped_package_has_a_held_out_tail(default_package: ModelPackage) -> None:
    calibration = default_package.calibration
    assert calibration.tail is not None and "held out" in calibration.tail.measured_on
    assert "nor LFW" in calibration.measured_on
    low, high = (gallery_threshold(calibration, 1e-3, n).threshold for n in (100, 10_000))
    assert 0.0 < calibration.threshold_for(1e-3) <= low < high <= 1.0
