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


MEAN_TAIL = ImpostorTail(
    table=((0.24, 1e-1), (0.31, 1e-2), (0.38, 1e-3)), fit_score=0.38, fit_far=1e-3, xi=-0.1, sigma=0.04, pairs=10**6
)
FUSED_TAIL = ImpostorTail(
    table=((0.23, 1e-1), (0.30, 1e-2), (0.37, 1e-3)), fit_score=0.37, fit_far=1e-3, xi=-0.1, sigma=0.04, pairs=10**6
)
WITH_TAILS = Calibration(
    True, CALIBRATION.thresholds, "test", {}, TAIL, {"single_vs_mean": MEAN_TAIL, "fused_vs_best": FUSED_TAIL}
)


def test_by_mean_template_the_people_count_and_the_mean_tail_set_it() -> None:
    # 3,000 templates of 1,000 people: one mean each, so N = 1,000 comparisons on the mean-template tail
    mean = gallery_threshold(WITH_TAILS, 1e-3, 3000, people=1000, match="mean")
    assert mean.matched == "single_vs_mean" and mean.gallery_size == 1000
    assert mean.threshold == pytest.approx(MEAN_TAIL.score_at(per_comparison_far(1e-3, 1000)))
    best = gallery_threshold(WITH_TAILS, 1e-3, 3000, people=1000)
    assert best.matched == "single_vs_best" and best.threshold == pytest.approx(
        TAIL.score_at(per_comparison_far(1e-3, 3000))
    )


def test_max_of_best_and_mean_splits_the_fpir_and_keeps_the_higher_threshold() -> None:
    both = gallery_threshold(WITH_TAILS, 1e-3, 3000, people=1000, match="max")
    halves = (
        gallery_threshold(WITH_TAILS, 5e-4, 3000, match="best").threshold,
        gallery_threshold(WITH_TAILS, 5e-4, 3000, people=1000, match="mean").threshold,
    )
    assert both.threshold == pytest.approx(max(halves)) and both.matched.startswith("max:")
    assert both.threshold > gallery_threshold(WITH_TAILS, 1e-3, 3000, people=1000, match="mean").threshold


def test_fused_frames_read_their_own_tail_or_fall_back_to_the_single_one() -> None:
    fused = gallery_threshold(WITH_TAILS, 1e-3, 500, fused=True)
    assert fused.matched == "fused_vs_best" and fused.threshold == pytest.approx(
        FUSED_TAIL.score_at(per_comparison_far(1e-3, 500))
    )
    old = gallery_threshold(CALIBRATION, 1e-3, 500, fused=True)  # no fused tail: today's single-face one
    assert old.matched == "single_vs_best" and old.threshold == gallery_threshold(CALIBRATION, 1e-3, 500).threshold
    with pytest.raises(ValueError, match="vs mean templates"):
        gallery_threshold(CALIBRATION, 1e-3, 500, match="mean")
    policy = ThresholdPolicy(WITH_TAILS, 1e-3, 1e-3, 0.35, template_match="mean")
    assert policy.for_gallery(900, people=300, fused=True).matched == "single_vs_mean"  # no fused_vs_mean here


def test_tails_survive_calibration_json() -> None:
    again = Calibration.from_json(WITH_TAILS.to_json())
    assert again.tails == WITH_TAILS.tails and again.tail_for("single", "mean") == MEAN_TAIL
    assert again.tail_for("single", "best") == TAIL and again.tail_for("fused", "mean") is None
    assert Calibration.from_json(CALIBRATION.to_json()).tails == {}


def test_shipped_package_has_held_out_tails_for_what_a_door_matches(default_package: ModelPackage) -> None:
    calibration = default_package.calibration
    for probe, templates in (("single", "mean"), ("fused", "best"), ("fused", "mean")):
        tail = calibration.tail_for(probe, templates)
        assert tail is not None and "held out" in tail.measured_on and tail.pairs > 10**6
        # averages of one person's photos score higher against strangers than single photos do
        assert tail.score_at(1e-3) > calibration.tail.score_at(1e-3)  # type: ignore[union-attr]


def test_runtime_matches_by_best_template_when_the_package_has_no_mean_tail(default_package: ModelPackage) -> None:
    from dataclasses import replace

    from service.config import Settings
    from service.runtime import threshold_policy_for

    settings = Settings(template_match="mean", model_path=None)
    assert threshold_policy_for(settings, default_package).template_match == "mean"
    old = replace(default_package, calibration=replace(default_package.calibration, tails={}))
    assert threshold_policy_for(settings, old).template_match == "best"


def test_the_domain_factor_divides_the_per_comparison_far() -> None:
    from dataclasses import replace

    shifted = replace(CALIBRATION, domain_factor=2.0, domain_factor_measured_on="another domain")
    plain, strict = (gallery_threshold(c, 1e-3, 1000) for c in (CALIBRATION, shifted))
    assert strict.per_comparison_far == pytest.approx(plain.per_comparison_far / 2)  # type: ignore[operator]
    assert strict.threshold == pytest.approx(TAIL.score_at(per_comparison_far(1e-3, 1000) / 2))
    assert strict.threshold > plain.threshold
    again = Calibration.from_json(shifted.to_json())
    assert (again.domain_factor, again.domain_factor_measured_on) == (2.0, "another domain")
    from models.package import CorruptPackageError

    for bad in ({"factor": 0.5}, {"factor": "x"}, {"nope": 1}, [2]):
        with pytest.raises(CorruptPackageError, match="domain_factor"):
            Calibration.from_json(CALIBRATION.to_json() | {"domain_factor": bad})


def test_shipped_package_states_its_domain_factor(default_package: ModelPackage) -> None:
    calibration = default_package.calibration
    assert 1.0 < calibration.domain_factor < 4.0 and "in-the-wild" in calibration.domain_factor_measured_on
