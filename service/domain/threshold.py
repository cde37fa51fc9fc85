"""The score threshold in force: derived from the operator's tolerated FPIR and the size of the gallery.

A door search compares the probe with every enrolled template, so a stranger is let in when the *highest* of N
impostor scores passes the threshold. For N independent comparisons at per-comparison false-accept rate ``far``,
``FPIR = 1 − (1 − far)^N``; the service inverts it (``far = 1 − (1 − FPIR)^(1/N)``, see
:func:`models.tail.per_comparison_far`) and reads the score at that ``far`` from the model's calibrated impostor
tail (calibration.json, :class:`models.tail.ImpostorTail`). N is the number of templates searched (a person with
three templates is three chances for a stranger); the threshold rises as people are enrolled and falls as they are
deleted. docs/OPERATIONS.md ("Thresholds that follow the gallery") shows the derivation with figures.

What is matched has its own tail (calibration.json ``impostor_tails``): a *fused* probe (several frames' mean
embedding) and a person's *mean* template are averages, and two different people's averages score higher against
each other than single faces. By mean template, N is the number of people (one mean each); by the ``max`` of best
and mean template, the tolerated FPIR is split between the two searches (a stranger let in by either counts:
FPIR ≤ FPIR_best + FPIR_mean) and the higher of the two thresholds holds. A package without the tail for what is
matched falls back to the single-face tail of today (fused frames) or to matching by best template (the runtime).

The tail is measured on one photo domain (aligned CelebA images); on another (the same held-out people's
in-the-wild photos, aligned as the service aligns a door's frames) impostors score higher, so the per-comparison
FAR is divided by calibration.json's ``domain_factor`` (1 when absent), measured there.

Without a target FPIR (or with a package calibrated before tails were stored) the fixed per-pair threshold at
``target_far`` holds, whatever the gallery size; an expert's ``match_threshold`` overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.package import Calibration
from models.tail import ImpostorTail, per_comparison_far
from service.domain.matching import TemplateMatch

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
    # Which tail set it: ``{probe}_vs_{templates}`` (models.package.Calibration.tail_for), or ``max`` of two.
    matched: str = "single_vs_best"


def gallery_threshold(
    calibration: Calibration,
    target_fpir: float,
    gallery_size: int,
    *,
    people: int | None = None,
    fused: bool = False,
    match: TemplateMatch = "best",
) -> GalleryThreshold:
    """The threshold that keeps the false-positive identification rate per check at ``target_fpir`` against
    ``gallery_size`` templates held by ``people`` people (default: one template each; an empty gallery counts
    as one), for a single or ``fused`` probe matched by ``match``. Raises ``ValueError`` when the calibration
    has no impostor tail; a missing fused tail falls back to the single one, a missing mean tail raises."""
    if calibration.tail is None:
        raise ValueError("the model's calibration has no impostor score tail: no gallery-aware threshold")
    persons = gallery_size if people is None else people
    if match == "max":
        best = gallery_threshold(calibration, target_fpir / 2, gallery_size, fused=fused, match="best")
        mean = gallery_threshold(calibration, target_fpir / 2, gallery_size, people=persons, fused=fused, match="mean")
        higher = max(best, mean, key=lambda t: t.threshold)
        return GalleryThreshold(
            higher.threshold, gallery_size, "fpir", target_fpir, higher.per_comparison_far, f"max:{higher.matched}"
        )
    templates = "mean" if match == "mean" else "best"
    probe = "fused" if fused and calibration.tail_for("fused", templates) is not None else "single"
    tail: ImpostorTail | None = calibration.tail_for(probe, templates)
    if tail is None:
        raise ValueError(f"the model's calibration has no impostor tail for {probe} probes vs {templates} templates")
    comparisons = persons if match == "mean" else gallery_size
    # the tail was measured on one photo domain; another ran this many times above it (calibration.json)
    far = per_comparison_far(target_fpir, comparisons) / calibration.domain_factor
    return GalleryThreshold(
        threshold=tail.score_at(far),
        gallery_size=comparisons,
        basis="fpir",
        target=target_fpir,
        per_comparison_far=far,
        matched=f"{probe}_vs_{templates}",
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
    template_match: TemplateMatch = "best"

    @property
    def follows_gallery(self) -> bool:
        return self.override is None and self.target_fpir is not None and self.calibration.tail is not None

    def for_gallery(self, gallery_size: int, *, people: int | None = None, fused: bool = False) -> GalleryThreshold:
        """The threshold for ``gallery_size`` templates of ``people`` people (default: one template each), for a
        single or ``fused`` probe, matched by ``template_match``."""
        if self.override is not None:
            return GalleryThreshold(self.override, gallery_size, "override", None, None)
        if self.target_fpir is not None and self.calibration.tail is not None:
            return gallery_threshold(
                self.calibration,
                self.target_fpir,
                gallery_size,
                people=people,
                fused=fused,
                match=self.template_match,
            )
        return GalleryThreshold(self.far_threshold, gallery_size, "far", self.target_far, self.target_far)
