"""The score threshold in force: derived from the operator's tolerated FPIR and the size of the gallery.

A door search compares the probe with every enrolled template, so a stranger is let in when the *highest* of N
impostor scores passes the threshold. For N independent comparisons at per-comparison false-accept rate ``far``,
``FPIR = 1 − (1 − far)^N``; the service inverts it (``far = 1 − (1 − FPIR)^(1/N)``, see
:func:`models.tail.per_comparison_far`) and reads the score at that ``far`` from the model's calibrated impostor
tail (calibration.json, :class:`models.tail.ImpostorTail`). N is the number of templates searched (a person with
three templates is three chances for a stranger); the threshold rises as people are enrolled and falls as they are
deleted. docs/OPERATIONS.md ("Thresholds that follow the gallery") shows the derivation with figures.

Without a target FPIR (or with a package calibrated before tails were stored) the fixed per-pair threshold at
``target_far`` holds, whatever the gallery size; an expert's ``match_threshold`` overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.package import Calibration
from models.tail import per_comparison_far

Basis = Literal["fpir", "far", "override"]


@dataclass(frozen=True, slots=True)
class GalleryThreshold:
    """The threshold in force and what it was computed from: ``basis`` ``fpir`` (gallery-aware), ``far`` (fixed
    per-pair) or ``override``; ``gallery_size`` templates; ``per_comparison_far`` the rate read from the tail."""

    threshold: float
    gallery_size: int
    basis: Basis
    target: float | None
    per_comparison_far: float | None


def gallery_threshold(calibration: Calibration, target_fpir: float, gallery_size: int) -> GalleryThreshold:
    """The threshold that keeps the false-positive identification rate per check at ``target_fpir`` against
    ``gallery_size`` templates (an empty gallery is treated as one template). Raises ``ValueError`` when the
    calibration has no impostor tail."""
    if calibration.tail is None:
        raise ValueError("the model's calibration has no impostor score tail: no gallery-aware threshold")
    far = per_comparison_far(target_fpir, gallery_size)
    return GalleryThreshold(
        threshold=calibration.tail.score_at(far),
        gallery_size=gallery_size,
        basis="fpir",
        target=target_fpir,
        per_comparison_far=far,
    )


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    """How the running service sets its threshold: one of ``override``, ``target_fpir`` (with a tail) or the
    fixed ``far_threshold``. :meth:`for_gallery` is pure and cheap; the runtime calls it per decision."""

    calibration: Calibration
    target_fpir: float | None
    target_far: float
    far_threshold: float
    override: float | None = None

    @property
    def follows_gallery(self) -> bool:
        return self.override is None and self.target_fpir is not None and self.calibration.tail is not None

    def for_gallery(self, gallery_size: int) -> GalleryThreshold:
        if self.override is not None:
            return GalleryThreshold(self.override, gallery_size, "override", None, None)
        if self.target_fpir is not None and self.calibration.tail is not None:
            return gallery_threshold(self.calibration, self.target_fpir, gallery_size)
        return GalleryThreshold(self.far_threshold, gallery_size, "far", self.target_far, self.target_far)
