"""A model's calibration (``calibration.json``): cosine thresholds per target false-accept rate, the impostor
score tails the gallery-aware threshold reads (one per kind of probe and template), and the domain factor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.package_errors import CorruptPackageError, ModelPackageError, validate_file
from models.package_schema import CALIBRATION_FILE, CalibrationJson
from models.tail import ImpostorTail, TailError


@dataclass(frozen=True)
class ThresholdPoint:
    """A cosine threshold whose false-accept rate was measured at ``far``."""

    far: float
    threshold: float
    tar: float | None = None


@dataclass(frozen=True)
class Calibration:
    """``calibration.json``: thresholds per target FAR and where they were measured."""

    calibrated: bool
    thresholds: tuple[ThresholdPoint, ...] = ()
    measured_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    # The impostor score tail (open-set thresholds per gallery size); None in packages calibrated before it.
    tail: ImpostorTail | None = None
    # Tails of what else a door may match (issue 12): ``{probe}_vs_{templates}`` with probe ``single`` or ``fused``
    # (several frames' mean embedding) and templates ``best`` (each template) or ``mean`` (a person's mean
    # template); ``single_vs_best`` is ``tail`` itself. Empty in packages calibrated before them.
    tails: dict[str, ImpostorTail] = field(default_factory=dict)
    # How many times the per-comparison FAR on a second held-out set of another photo domain ran above the tail's
    # (>= 1; 1 in packages without it): the gallery-aware threshold divides its FAR by it (docs/OPERATIONS.md).
    domain_factor: float = 1.0
    domain_factor_measured_on: str = ""

    def tail_for(self, probe: str, templates: str) -> ImpostorTail | None:
        """The impostor tail for ``probe`` (``single``/``fused``) against ``templates`` (``best``/``mean``);
        ``None`` when the package has none for it."""
        if (probe, templates) == ("single", "best"):
            return self.tail
        return self.tails.get(f"{probe}_vs_{templates}")

    def threshold_for(self, far: float) -> float:
        """The threshold measured for exactly ``far``; raises when the package has none."""
        if not self.calibrated:
            raise ModelPackageError("the model package is uncalibrated: it has no decision threshold")
        for point in self.thresholds:
            if abs(point.far - far) <= 1e-12 * max(1.0, far):
                return point.threshold
        available = ", ".join(f"{p.far:g}" for p in self.thresholds) or "none (uncalibrated)"
        raise ModelPackageError(f"no threshold calibrated for FAR {far:g}; available: {available}")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "calibrated": self.calibrated,
            "measured_on": self.measured_on,
            "thresholds": [{"far": p.far, "threshold": p.threshold, "tar": p.tar} for p in self.thresholds],
            "metrics": self.metrics,
        }
        if self.tail is not None:
            data["impostor_tail"] = self.tail.to_json()
        if self.tails:
            data["impostor_tails"] = {key: tail.to_json() for key, tail in sorted(self.tails.items())}
        if self.domain_factor != 1.0:
            data["domain_factor"] = {"factor": self.domain_factor, "measured_on": self.domain_factor_measured_on}
        return data

    @classmethod
    def from_json(cls, data: Any) -> Calibration:
        """``calibration.json``'s content (parsed JSON), checked by :class:`CalibrationJson`."""
        parsed = validate_file(CalibrationJson, data, CALIBRATION_FILE)
        try:
            tail = None if parsed.impostor_tail is None else ImpostorTail.from_json(parsed.impostor_tail)
            tails = {key: ImpostorTail.from_json(value) for key, value in parsed.impostor_tails.items()}
        except TailError as exc:
            raise CorruptPackageError(f"{CALIBRATION_FILE}: impostor_tail: {exc}") from exc
        points = (ThresholdPoint(far=p.far, threshold=p.threshold, tar=p.tar) for p in parsed.thresholds)
        factor = parsed.domain_factor
        return cls(
            calibrated=parsed.calibrated,
            thresholds=tuple(sorted(points, key=lambda p: p.far)),
            measured_on=parsed.measured_on,
            metrics=dict(parsed.metrics),
            tail=tail,
            tails=tails,
            domain_factor=1.0 if factor is None else factor.factor,
            domain_factor_measured_on="" if factor is None else factor.measured_on,
        )
