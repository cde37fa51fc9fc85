"""Threshold calibration: cosine thresholds at target false-accept rates, from every pair of a set.

:func:`calibrate` scores **all** pairs of the given images (``N(N-1)/2``; LFW's 13,233 images make
~87.5 M impostor pairs) in row blocks with matrix products. Genuine scores (same identity, a few
hundred thousand on LFW) are all kept; of the impostor scores only the upper tail is kept, exactly:
placing a threshold at FAR ``f`` only needs the ``floor(f·n) + 1`` highest impostor scores, so a
running top-k (``np.partition`` whenever the buffer holds twice what is needed, with a floor that
discards every lower score of the next blocks) is enough. The rule is the protocol's
(:func:`training.evaluation.protocol.threshold_at_far`): accept when ``score >= threshold``; the
threshold at ``f`` is the smallest impostor score ``t`` with ``#{impostor >= t} <= floor(f·n)``, so
the measured false-accept rate is ``<= f`` and the next lower impostor score would exceed ``f``.
A FAR below ``1/n`` cannot be certified on ``n`` impostor pairs and is left out (and listed).

:func:`write_calibration` puts the result into a package folder's ``calibration.json``, in the
schema :func:`models.package.save_package` writes, stamped with the package's model id.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from models.package import CALIBRATION_FILE, CONFIG_FILE, Calibration, ThresholdPoint
from training.evaluation.protocol import allowed_false_accepts

DEFAULT_FARS = (1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class PairScores:
    """All genuine scores, the ``top_k`` highest impostor scores (descending) and the number of
    impostor pairs they were taken from."""

    genuine: np.ndarray
    impostor_top: np.ndarray
    n_impostor: int


def _normalise(embeddings: ArrayLike) -> np.ndarray:
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] < 2:
        raise ValueError(f"need at least two embeddings (N, E), got shape {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError("embeddings must be finite")
    unit: np.ndarray = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return unit


def count_pairs(identities: Sequence[Any]) -> tuple[int, int]:
    """``(genuine, impostor)`` pair counts of a labelled set."""
    _, counts = np.unique(np.asarray(identities), return_counts=True)
    n = int(counts.sum())
    genuine = int((counts * (counts - 1) // 2).sum())
    return genuine, n * (n - 1) // 2 - genuine


def all_pair_scores(embeddings: ArrayLike, identities: Sequence[Any], top_k: int, block_size: int = 512) -> PairScores:
    """Cosine scores of every unordered pair, blockwise: all genuine ones, the top-k impostors."""
    e = _normalise(embeddings)
    ids = np.unique(np.asarray(identities), return_inverse=True)[1].reshape(-1)
    if ids.size != e.shape[0]:
        raise ValueError(f"{e.shape[0]} embeddings but {ids.size} identities")
    n = e.shape[0]
    top_k = max(0, int(top_k))
    genuine: list[np.ndarray] = []
    buffer: list[np.ndarray] = []
    buffered = 0
    floor = -math.inf
    n_impostor = 0
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        scores = e[start:stop] @ e[start:].T  # rows start..stop-1 against columns start..n-1
        rows = np.arange(start, stop)[:, None]
        cols = np.arange(start, n)[None, :]
        upper = cols > rows
        same = ids[start:stop, None] == ids[None, start:]
        genuine.append(scores[upper & same])
        impostor = upper & ~same
        n_impostor += int(impostor.sum())
        if top_k == 0:
            continue
        candidates = scores[impostor & (scores >= floor)]
        buffer.append(candidates)
        buffered += candidates.size
        if buffered >= 2 * top_k:
            kept = _top(np.concatenate(buffer), top_k)
            buffer, buffered, floor = [kept], kept.size, float(kept.min())
    top = _top(np.concatenate(buffer), top_k) if buffer else np.zeros(0)
    return PairScores(
        genuine=np.concatenate(genuine) if genuine else np.zeros(0),
        impostor_top=np.sort(top)[::-1].copy(),
        n_impostor=n_impostor,
    )


def _top(values: np.ndarray, k: int) -> np.ndarray:
    if values.size <= k:
        return values
    return np.partition(values, values.size - k)[values.size - k :]


def threshold_from_top(impostor_top: np.ndarray, n_impostor: int, far: float) -> float | None:
    """The protocol's threshold at ``far`` from the highest impostor scores (descending).

    ``impostor_top`` must hold at least ``min(n, floor(far·n) + 1)`` scores. ``None`` when no
    threshold at an observed score certifies ``far`` (``far < 1/n``, or ties at the top).
    """
    allowed = allowed_false_accepts(far, n_impostor)
    if allowed == 0:
        return None
    if allowed >= n_impostor:
        return float(impostor_top[-1])  # every impostor may pass: the lowest one is the threshold
    if impostor_top.size <= allowed:
        raise ValueError(f"need the top {allowed + 1} impostor scores for FAR {far:g}, got {impostor_top.size}")
    first_rejected = impostor_top[allowed]  # the (allowed+1)-th highest: must be rejected
    above = impostor_top[:allowed][impostor_top[:allowed] > first_rejected]
    return float(above.min()) if above.size else None


def calibrate(
    embeddings: ArrayLike,
    identities: Sequence[Any],
    fars: Iterable[float] = DEFAULT_FARS,
    *,
    description: str = "",
    block_size: int = 512,
    extra_metrics: Mapping[str, Any] | None = None,
) -> Calibration:
    """Thresholds (and the TAR there) at each FAR in ``fars``, measured on all pairs of these images.

    ``embeddings`` ``(N, E)`` (normalised here), ``identities`` one label per row. ``description``
    starts ``measured_on`` (say which data set, and that its identities were not used in training).
    Raises ``ValueError`` when no FAR can be certified (too few impostor pairs).
    """
    fars = sorted({float(f) for f in fars}, reverse=True)
    if not fars or not all(0.0 < f < 1.0 for f in fars):
        raise ValueError(f"fars must be in (0, 1), got {fars}")
    labels = list(identities)
    n_genuine, n_impostor = count_pairs(labels)
    if n_genuine == 0 or n_impostor == 0:
        raise ValueError("need both genuine (same identity) and impostor pairs")
    top_k = min(n_impostor, allowed_false_accepts(fars[0], n_impostor) + 1)
    scores = all_pair_scores(embeddings, labels, top_k=top_k, block_size=block_size)
    assert scores.n_impostor == n_impostor and scores.genuine.size == n_genuine

    points: list[ThresholdPoint] = []
    details: list[dict[str, Any]] = []
    uncertified: list[float] = []
    for far in sorted(fars):
        threshold = threshold_from_top(scores.impostor_top, n_impostor, far)
        if threshold is None:
            uncertified.append(far)
            continue
        false_accepts = int((scores.impostor_top >= threshold).sum())
        genuine_accepts = int((scores.genuine >= threshold).sum())
        tar = genuine_accepts / n_genuine
        points.append(ThresholdPoint(far=far, threshold=float(np.clip(threshold, -1.0, 1.0)), tar=tar))
        details.append(
            {
                "far": far,
                "threshold": threshold,
                "tar": tar,
                "false_accepts": false_accepts,
                "measured_far": false_accepts / n_impostor,
                "genuine_accepts": genuine_accepts,
            }
        )
    if not points:
        raise ValueError(
            f"{n_impostor} impostor pairs cannot certify any FAR in {fars}; need at least 1/FAR impostor pairs"
        )
    n_images = len(labels)
    n_identities = len(set(labels))
    measured_on = (f"{description.strip()} " if description.strip() else "") + (
        f"{n_images:,} images of {n_identities:,} identities; impostors: all {n_impostor:,} pairs of images of "
        f"different identities; genuine: all {n_genuine:,} same-identity pairs; cosine similarity, "
        "accept when score >= threshold"
    )
    names, counts = np.unique(np.asarray(labels), return_counts=True)
    largest = int(np.argmax(counts))
    metrics: dict[str, Any] = {
        "images": n_images,
        "identities": n_identities,
        "identities_with_several_images": int((counts > 1).sum()),
        "genuine_pairs": n_genuine,
        # TAR counts every same-identity pair, so identities with many images weigh most
        "largest_identity": {
            "identity": str(names[largest]),
            "images": int(counts[largest]),
            "genuine_pairs": int(counts[largest] * (counts[largest] - 1) // 2),
        },
        "impostor_pairs": n_impostor,
        "impostor_scores_kept": int(scores.impostor_top.size),
        "points": details,
        "uncertified_fars": uncertified,
        **dict(extra_metrics or {}),
    }
    return Calibration(calibrated=True, thresholds=tuple(points), measured_on=measured_on, metrics=_jsonable(metrics))


def _jsonable(value: Any) -> Any:
    """NumPy scalars and arrays → plain Python, recursively (non-finite floats → None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    return value


def write_calibration(package_dir: str | Path, calibration: Calibration) -> Path:
    """Replace ``calibration.json`` of the package folder ``package_dir`` (stamped with its model id).

    The file is written under a temporary name and renamed, so a reader never sees half of it.
    """
    folder = Path(package_dir)
    config_path = folder / CONFIG_FILE
    if not folder.is_dir() or not config_path.is_file():
        raise FileNotFoundError(f"{folder} is not a model package folder (no {CONFIG_FILE}); archives are read-only")
    model_id = json.loads(config_path.read_text()).get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"{config_path} has no model_id")
    data = {"model_id": model_id, **calibration.to_json()}
    Calibration.from_json(data)  # the loader's checks, before anything is written
    target = folder / CALIBRATION_FILE
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    os.replace(tmp, target)
    return target
