"""The upper tail of a model's impostor scores: how often two different people score at least ``s``.

Open-set identification compares one probe with every enrolled template, so the rate that matters per access
check is far smaller per comparison than any set of impostor pairs can measure (FPIR 1e-3 at 10^5 templates needs
a per-comparison false-accept rate near 1e-8). The tail is therefore stored in two parts, both measured on
identities in neither the training set nor the accuracy benchmark (calibration.json says which):

- ``table``: the empirical false-accept rate at a ladder of scores, from the measured pairs, used down to
  ``fit_far`` (where the measurement is still dense);
- above the score ``fit_score`` (the empirical score at ``fit_far``), a generalised Pareto tail (peaks over
  threshold): ``FAR(s) = fit_far · (1 + xi·(s − fit_score)/sigma)^(−1/xi)`` (``xi < 0``: a bounded tail, as
  cosine scores are; ``xi = 0``: exponential).

:func:`ImpostorTail.far_at` and :func:`ImpostorTail.score_at` are inverse monotone maps; both are pure and cheap
(microseconds), so the service re-derives its threshold whenever the gallery changes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

_XI_ZERO = 1e-9


class TailError(ValueError):
    """A stored tail that cannot be used (bad numbers, an empty or non-monotone table)."""


@dataclass(frozen=True)
class ImpostorTail:
    """Impostor score tail: ``table`` ``((score, far), ...)`` by rising score and falling FAR, ending at
    ``(fit_score, fit_far)``; the Pareto shape ``xi`` and scale ``sigma`` above it; ``pairs`` measured."""

    table: tuple[tuple[float, float], ...]
    fit_score: float
    fit_far: float
    xi: float
    sigma: float
    pairs: int
    measured_on: str = ""

    def __post_init__(self) -> None:
        if not self.table:
            raise TailError("the impostor tail table is empty")
        scores = [s for s, _ in self.table]
        fars = [f for _, f in self.table]
        if any(b <= a for a, b in itertools.pairwise(scores)) or any(b >= a for a, b in itertools.pairwise(fars)):
            raise TailError("the impostor tail table must rise in score and fall in FAR")
        if not all(0.0 < f <= 1.0 for f in fars) or not all(-1.0 <= s <= 1.0 for s in scores):
            raise TailError("tail FARs must be in (0, 1] and scores in [-1, 1]")
        if not (self.sigma > 0.0 and math.isfinite(self.xi)) or abs(self.table[-1][1] - self.fit_far) > 1e-12:
            raise TailError("the tail's fit must have sigma > 0, a finite xi and start at the table's last point")
        if self.pairs < 1:
            raise TailError("the tail must say how many impostor pairs it was measured on")

    @property
    def upper_bound(self) -> float:
        """The largest score the fitted tail allows (``+inf`` for ``xi >= 0``), capped at 1."""
        if self.xi >= 0:
            return 1.0
        return min(1.0, self.fit_score - self.sigma / self.xi)

    def far_at(self, score: float) -> float:
        """The per-comparison false-accept rate of the threshold ``score`` (accept when ``>= score``)."""
        if score <= self.table[0][0]:
            return self.table[0][1]
        if score <= self.fit_score:
            for (s0, f0), (s1, f1) in zip(self.table, self.table[1:], strict=False):
                if s0 <= score <= s1:
                    w = (score - s0) / (s1 - s0)
                    return math.exp((1 - w) * math.log(f0) + w * math.log(f1))
        z = (score - self.fit_score) / self.sigma
        if abs(self.xi) < _XI_ZERO:
            return self.fit_far * math.exp(-z)
        base = 1.0 + self.xi * z
        return 0.0 if base <= 0.0 else self.fit_far * base ** (-1.0 / self.xi)

    def score_at(self, far: float) -> float:
        """The threshold whose per-comparison false-accept rate is ``far`` (``0 < far < 1``), at most 1."""
        if not 0.0 < far < 1.0:
            raise ValueError(f"far must be in (0, 1), got {far}")
        if far >= self.table[0][1]:
            return self.table[0][0]
        if far >= self.fit_far:
            for (s0, f0), (s1, f1) in zip(self.table, self.table[1:], strict=False):
                if f1 <= far <= f0:
                    w = (math.log(f0) - math.log(far)) / (math.log(f0) - math.log(f1))
                    return s0 + w * (s1 - s0)
        ratio = far / self.fit_far
        if abs(self.xi) < _XI_ZERO:
            excess = -self.sigma * math.log(ratio)
        else:
            excess = self.sigma / self.xi * (ratio ** (-self.xi) - 1.0)
        return min(1.0, self.fit_score + excess)

    def to_json(self) -> dict[str, Any]:
        return {
            "measured_on": self.measured_on,
            "pairs": self.pairs,
            "table": [[s, f] for s, f in self.table],
            "fit": {"score": self.fit_score, "far": self.fit_far, "xi": self.xi, "sigma": self.sigma},
        }

    @classmethod
    def from_json(cls, data: Any) -> ImpostorTail:
        try:
            fit = data["fit"]
            return cls(
                table=tuple((float(s), float(f)) for s, f in data["table"]),
                fit_score=float(fit["score"]),
                fit_far=float(fit["far"]),
                xi=float(fit["xi"]),
                sigma=float(fit["sigma"]),
                pairs=int(data["pairs"]),
                measured_on=str(data.get("measured_on", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, TailError):
                raise
            raise TailError(f"bad impostor tail: {exc}") from exc


def per_comparison_far(target_fpir: float, comparisons: int) -> float:
    """The per-comparison FAR at which ``comparisons`` independent impostor comparisons give ``target_fpir``:
    ``1 − (1 − FPIR)^(1/N)`` (≈ FPIR/N for small FPIR; exact for the max of N independent scores)."""
    if not 0.0 < target_fpir < 1.0:
        raise ValueError(f"target_fpir must be in (0, 1), got {target_fpir}")
    n = max(1, int(comparisons))
    return -math.expm1(math.log1p(-target_fpir) / n)
