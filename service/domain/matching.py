"""The match rule: who, if anyone, is this face — and how several frames of one check are combined.

A face matches the best person when that person's best template scores at least ``threshold`` (read from the
model's calibration for the configured false-accept rate) *and* beats every other person by ``margin``. Below the
threshold it is an ``unknown_face``; above it but too close to someone else, an ``ambiguous_match`` (two similar
people: letting either in would be a coin toss).

Several frames of one check are either fused (:func:`fuse_frames`, then :func:`match_fused`: the mean embedding
matched once, every frame's nearest person required to be that match) or each matched and required to agree
(:func:`combine_frames`). bench/open_set.py measures both; ``frame_fusion`` chooses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from service.domain.policy import Reason

# How a person with several templates scores (``template_match``): their best template, their mean template (the
# normalised mean of the templates, service/index/means.py), or the higher of the two.
TemplateMatch = Literal["best", "mean", "max"]
TEMPLATE_MATCHES: tuple[TemplateMatch, ...] = ("best", "mean", "max")


class Hit(Protocol):
    """One person found by the index: their best template's cosine score."""

    @property
    def person_id(self) -> int: ...

    @property
    def score(self) -> float: ...


@dataclass(frozen=True, slots=True)
class MatchRule:
    threshold: float
    margin: float


@dataclass(frozen=True, slots=True)
class Match:
    """The outcome for one face or several frames. ``reason`` is ``None`` when ``person_id`` matched.

    ``score`` is the best person's score and ``margin`` its lead over the next person (``None`` when nobody else is
    enrolled); both are kept on refusals too, for the log.
    """

    person_id: int | None
    score: float | None
    margin: float | None
    reason: Reason | None

    @property
    def matched(self) -> bool:
        return self.reason is None


def match_face(hits: Sequence[Hit], rule: MatchRule) -> Match:
    """Apply the rule to the index's hits for one face (best first, one per person)."""
    if not hits:
        return Match(person_id=None, score=None, margin=None, reason=Reason.UNKNOWN_FACE)
    ranked = sorted(hits, key=lambda hit: hit.score, reverse=True)
    best = ranked[0]
    margin = best.score - ranked[1].score if len(ranked) > 1 else None
    if best.score < rule.threshold:
        return Match(person_id=None, score=best.score, margin=margin, reason=Reason.UNKNOWN_FACE)
    if margin is not None and margin < rule.margin:
        return Match(person_id=None, score=best.score, margin=margin, reason=Reason.AMBIGUOUS_MATCH)
    return Match(person_id=best.person_id, score=best.score, margin=margin, reason=None)


def combine_frames(matches: Sequence[Match]) -> Match:
    """One outcome for the frames of one request: the decision must hold across them.

    Every frame must match, and match the same person; the result carries the weakest frame's score and margin.
    Two frames matching two different people are ``ambiguous_match``; otherwise the first refusing frame's reason.
    """
    if not matches:
        raise ValueError("no frame to combine")
    people = {m.person_id for m in matches if m.matched}
    if len(people) > 1:
        scores = [m.score for m in matches if m.score is not None]
        return Match(person_id=None, score=min(scores) if scores else None, margin=None, reason=Reason.AMBIGUOUS_MATCH)
    refused = next((m for m in matches if not m.matched), None)
    if refused is not None:
        return refused
    margins = [m.margin for m in matches if m.margin is not None]
    return Match(
        person_id=matches[0].person_id,
        score=min(m.score for m in matches if m.score is not None),
        margin=min(margins) if margins else None,
        reason=None,
    )


def match_fused(fused_hits: Sequence[Hit], frame_hits: Sequence[Sequence[Hit]], rule: MatchRule) -> Match:
    """The rule applied once, to the fused frames' hits, with one guard: every frame's own nearest person must be
    the fused match, else ``ambiguous_match``. Without it, frames of two enrolled people fuse into a face that
    scores well against both and is let in as whichever leads (a real-face test found it)."""
    match = match_face(fused_hits, rule)
    if not match.matched:
        return match
    nearest = {max(hits, key=lambda hit: hit.score).person_id for hits in frame_hits if hits}
    if nearest - {match.person_id}:
        return Match(person_id=None, score=match.score, margin=match.margin, reason=Reason.AMBIGUOUS_MATCH)
    return match


def fuse_frames(embeddings: np.ndarray) -> np.ndarray:
    """One embedding for several frames (or templates) of one face: the mean of the unit rows ``(F, E)``,
    renormalised ``-> (E,)``. Averaging cancels part of each frame's noise (pose, blur, expression), so the fused
    vector sits nearer the person's centre than most single frames."""
    rows = np.asarray(embeddings, dtype=np.float32)
    if rows.ndim != 2 or len(rows) == 0:
        raise ValueError(f"expected embeddings (F, E) with F >= 1, got {rows.shape}")
    mean = rows.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if not np.isfinite(norm) or norm <= 1e-6:
        raise ValueError("the frames' embeddings cancel out: nothing to fuse")
    fused: np.ndarray = (mean / norm).astype(np.float32)
    return fused
