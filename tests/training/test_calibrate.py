"""Threshold calibration: blocked all-pairs scoring, the FAR rule, and calibration.json round trips."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from models.package import CALIBRATION_FILE, Calibration, ThresholdPoint, load_package
from training.evaluation import all_pair_scores, calibrate, threshold_at_far, threshold_from_top, write_calibration
from training.evaluation.calibrate import count_pairs
from training.export import make_untrained_package


def _synthetic(n_ids: int = 30, per_id: int = 8, dim: int = 32, noise: float = 0.35, seed: int = 0):
    """Identities as random unit vectors; each image is its identity's vector plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    ids = np.repeat(np.arange(n_ids), per_id)
    x = centres[ids] + noise * rng.normal(size=(ids.size, dim)) / math.sqrt(dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), [f"id{i}" for i in ids]


def _brute_force(x: np.ndarray, identities: list[str]) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(x, np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    scores = e @ e.T
    i, j = np.triu_indices(len(identities), k=1)
    labels = np.asarray(identities)
    same = labels[i] == labels[j]
    return scores[i, j][same], scores[i, j][~same]


@pytest.mark.parametrize(("block_size", "top_k"), [(7, 50), (64, 1), (1000, 10**9), (5, 0)])
def test_blocked_top_k_equals_brute_force(block_size: int, top_k: int) -> None:
    x, identities = _synthetic(n_ids=12, per_id=5, dim=16)
    x[3] = x[4]  # an exact tie among the genuine scores, and ties in the impostor tail
    genuine, impostor = _brute_force(x, identities)
    scores = all_pair_scores(x, identities, top_k=top_k, block_size=block_size)
    assert scores.n_impostor == impostor.size == count_pairs(identities)[1]
    np.testing.assert_allclose(np.sort(scores.genuine), np.sort(genuine), rtol=0, atol=1e-12)
    expected_top = np.sort(impostor)[::-1][:top_k]
    assert scores.impostor_top.size == expected_top.size
    np.testing.assert_allclose(scores.impostor_top, expected_top, rtol=0, atol=1e-12)
    assert np.all(np.diff(scores.impostor_top) <= 0)  # descending


def test_threshold_from_top_matches_the_protocol_rule_with_ties() -> None:
    impostor = np.array([0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    top = np.sort(impostor)[::-1]
    for far in (0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.99, 0.05):
        expected = threshold_at_far(impostor, far)
        got = threshold_from_top(top, impostor.size, far)
        assert (got is None and math.isinf(expected)) or got == expected, far
    # 0.2 and 0.3 allow 2 and 3 false accepts, but 0.8 is tied three times: only 0.9 is safe.
    assert threshold_from_top(top, 10, 0.2) == 0.9
    assert threshold_from_top(top, 10, 0.4) == 0.8
    assert threshold_from_top(top, 10, 0.05) is None  # fewer than 1/FAR impostors: not certifiable
    assert threshold_from_top(top[:3], 10, 0.2) == 0.9  # only the top floor(f*n)+1 scores are needed


def test_calibrate_synthetic_far_rule_and_tar() -> None:
    x, identities = _synthetic(noise=1.0)  # genuine cosines around 0.5: TAR is informative
    genuine, impostor = _brute_force(x, identities)
    fars = (1e-2, 1e-3, 1e-4)
    calibration = calibrate(x, identities, fars=fars, description="synthetic test set.", block_size=37)
    assert calibration.calibrated
    assert [p.far for p in calibration.thresholds] == sorted(fars)
    n = impostor.size
    for point in calibration.thresholds:
        accepted = int((impostor >= point.threshold).sum())
        assert accepted / n <= point.far  # measured accept rate within the target
        lower = impostor[impostor < point.threshold].max()  # the next lower impostor score
        assert (impostor >= lower).sum() / n > point.far  # ... would exceed it
        assert point.threshold == pytest.approx(threshold_at_far(impostor, point.far), abs=1e-12)
        assert point.tar == pytest.approx(np.mean(genuine >= point.threshold))
    strict, loose = calibration.thresholds[0], calibration.thresholds[-1]  # FAR 1e-4 and 1e-2
    assert strict.threshold > loose.threshold  # a lower FAR needs a higher bar ...
    assert 0.0 < strict.tar < loose.tar <= 1.0  # ... and lets fewer genuine pairs through
    m = calibration.metrics
    assert m["impostor_pairs"] == n and m["genuine_pairs"] == genuine.size and m["images"] == len(identities)
    assert m["identities"] == 30 and m["uncertified_fars"] == []
    assert m["impostor_scores_kept"] == math.floor(1e-2 * n) + 1
    assert f"{n:,}" in calibration.measured_on and calibration.measured_on.startswith("synthetic test set.")
    json.dumps(calibration.to_json())  # serialisable


def test_calibrate_small_set_leaves_out_uncertifiable_fars() -> None:
    x, identities = _synthetic(n_ids=10, per_id=4, dim=16)  # 720 impostor pairs: 1e-3 and 1e-4 impossible
    calibration = calibrate(x, identities)
    assert [p.far for p in calibration.thresholds] == [1e-2]
    assert calibration.metrics["uncertified_fars"] == [1e-4, 1e-3]
    with pytest.raises(ValueError, match="cannot certify"):
        calibrate(x, identities, fars=(1e-4,))
    with pytest.raises(ValueError, match="genuine"):
        calibrate(x[:5], [f"p{i}" for i in range(5)])


def test_write_calibration_round_trip_through_load_package(tmp_path: Path) -> None:
    package = make_untrained_package(tmp_path / "pkg", width=0.125)
    x, identities = _synthetic()
    calibration = calibrate(x, identities, description="synthetic.", extra_metrics={"note": "test"})
    path = write_calibration(tmp_path / "pkg", calibration)
    assert path == tmp_path / "pkg" / CALIBRATION_FILE
    data = json.loads(path.read_text())
    assert data["model_id"] == package.model_id and data["calibrated"] is True
    loaded = load_package(tmp_path / "pkg", warn_untrained=False)
    assert loaded.model_id == package.model_id
    assert loaded.calibration.calibrated
    assert loaded.calibration.thresholds == calibration.thresholds
    assert loaded.calibration.measured_on == calibration.measured_on
    assert loaded.calibration.metrics["note"] == "test"
    assert loaded.calibration.threshold_for(1e-3) == calibration.thresholds[1].threshold
    assert not list((tmp_path / "pkg").glob("*.tmp"))


def test_write_calibration_refuses_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_calibration(tmp_path, Calibration(calibrated=True, thresholds=(ThresholdPoint(0.01, 0.5),)))
    make_untrained_package(tmp_path / "pkg", width=0.125)
    before = (tmp_path / "pkg" / CALIBRATION_FILE).read_text()
    with pytest.raises(Exception, match="calibrated"):  # the loader's own check, before writing
        write_calibration(tmp_path / "pkg", Calibration(calibrated=True, thresholds=()))
    assert (tmp_path / "pkg" / CALIBRATION_FILE).read_text() == before
