"""The impostor tail: FAR ↔ score maps that invert each other, a JSON round trip, and bad tails refused."""

from __future__ import annotations

import math

import pytest

from models.package import Calibration, CorruptPackageError, ThresholdPoint
from models.tail import ImpostorTail, TailError, per_comparison_far

TAIL = ImpostorTail(
    table=((0.20, 1e-1), (0.28, 1e-2), (0.35, 1e-3)),
    fit_score=0.35,
    fit_far=1e-3,
    xi=-0.2,
    sigma=0.04,
    pairs=1_000_000,
    measured_on="test",
)


@pytest.mark.parametrize("far", [0.05, 1e-2, 2e-3, 1e-3, 1e-4, 1e-6, 1e-9])
def test_score_at_and_far_at_invert_each_other(far: float) -> None:
    assert TAIL.far_at(TAIL.score_at(far)) == pytest.approx(far, rel=1e-9)


def test_table_points_and_pareto_tail() -> None:
    assert TAIL.score_at(1e-2) == pytest.approx(0.28)
    assert TAIL.score_at(1e-3) == pytest.approx(0.35)
    # the Pareto quantile, by hand: u + sigma/xi * ((far/p_u)^(-xi) - 1)
    assert TAIL.score_at(1e-5) == pytest.approx(0.35 + 0.04 / -0.2 * ((1e-2) ** 0.2 - 1))
    assert TAIL.upper_bound == pytest.approx(0.35 + 0.04 / 0.2)
    assert TAIL.far_at(TAIL.upper_bound + 0.01) == 0.0
    assert TAIL.score_at(0.5) == 0.20  # above the table: its first score


def test_stricter_far_means_higher_threshold() -> None:
    scores = [TAIL.score_at(10.0**-e) for e in range(1, 10)]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)


def test_exponential_tail_when_xi_is_zero() -> None:
    tail = ImpostorTail(table=((0.3, 1e-3),), fit_score=0.3, fit_far=1e-3, xi=0.0, sigma=0.05, pairs=10)
    assert tail.score_at(1e-4) == pytest.approx(0.3 + 0.05 * math.log(10))
    assert tail.far_at(0.3 + 0.05 * math.log(100)) == pytest.approx(1e-5)


def test_per_comparison_far() -> None:
    assert per_comparison_far(1e-3, 1) == pytest.approx(1e-3)
    assert per_comparison_far(1e-3, 0) == pytest.approx(1e-3)  # an empty gallery counts as one
    far = per_comparison_far(1e-3, 100_000)
    assert far == pytest.approx(1e-8, rel=1e-3)
    assert 1 - (1 - far) ** 100_000 == pytest.approx(1e-3, rel=1e-6)
    with pytest.raises(ValueError, match="target_fpir"):
        per_comparison_far(0.0, 10)


def test_json_round_trip_in_calibration() -> None:
    calibration = Calibration(True, (ThresholdPoint(1e-3, 0.35),), "held-out", {}, TAIL)
    again = Calibration.from_json(calibration.to_json())
    assert again.tail == TAIL
    assert Calibration.from_json({"calibrated": True, "thresholds": [{"far": 1e-3, "threshold": 0.3}]}).tail is None


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(table=[]),
        lambda d: d.update(table=[[0.3, 1e-2], [0.2, 1e-3]]),
        lambda d: d["fit"].update(sigma=-1),
        lambda d: d["fit"].update(far=0.5),
        lambda d: d.pop("pairs"),
        lambda d: d.update(table="x"),
    ],
    ids=["empty", "not-monotone", "negative-sigma", "fit-off-table", "no-pairs", "table-text"],
)
def test_bad_tail_is_a_corrupt_package(change) -> None:  # type: ignore[no-untyped-def]
    data = Calibration(True, (ThresholdPoint(1e-3, 0.35),), "", {}, TAIL).to_json()
    change(data["impostor_tail"])
    with pytest.raises(CorruptPackageError, match=r"calibration\.json"):
        Calibration.from_json(data)
    with pytest.raises(TailError):
        ImpostorTail.from_json(data["impostor_tail"])
