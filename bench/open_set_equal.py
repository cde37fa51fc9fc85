"""Two ways of deciding compared fairly: FNIR at an equal *measured* FPIR (issue 12, choosing the defaults).

A rule's derived threshold sets its FPIR only as well as its calibration transfers, so comparing two rules at one
*target* FPIR compares their calibrations as much as the rules. Here each rule's threshold is instead set where it
lets in a stated share of the benchmark's own strangers, and the FNIR there is read off: the rule that recognises
more enrolled people at the same measured FPIR wins.

Every decision of the service's match rule (:mod:`service.domain.matching`: ``match_face``, ``combine_frames``,
``match_fused``) has the form "the person ``p`` is let in when the score ``s`` reaches the threshold": the margin
and the frames' agreement do not depend on the threshold. So a probe decided once at threshold −2 gives its
``(p, s)``, or nobody at any threshold when it fails the margin or the agreement; the rest is a sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from service.domain.matching import Match

NEVER = -np.inf


def scores_of(matches: Sequence[Match]) -> tuple[np.ndarray, np.ndarray]:
    """(person ids, scores) of outcomes decided at threshold −2: ``-1`` and ``-inf`` where nobody matched."""
    people = np.array([m.person_id if m.matched and m.person_id is not None else -1 for m in matches])
    scores = np.array([m.score if m.matched and m.score is not None else NEVER for m in matches], np.float64)
    return people, scores


def fnir_at_fpir(
    mated: tuple[np.ndarray, np.ndarray], owners: np.ndarray, strangers: np.ndarray, fpirs: Sequence[float]
) -> list[dict[str, Any]]:
    """For each FPIR: the lowest threshold that lets in at most that share of ``strangers`` (scores ``(S,)``),
    the FPIR measured there and the FNIR of ``mated`` ((people, scores) ``(M,)``, ``owners`` ``(M,)``)."""
    people, scores = mated
    ranked = np.sort(strangers[np.isfinite(strangers)])[::-1]
    rows = []
    for fpir in fpirs:
        allowed = int(np.floor(fpir * len(strangers) + 1e-9))
        threshold = float(np.nextafter(ranked[allowed], np.inf)) if allowed < len(ranked) else -1.0
        hits = (people == owners) & (scores >= threshold)
        rows.append(
            {
                "fpir_set": fpir,
                "threshold": threshold,
                "fpir": float((strangers >= threshold).mean()),
                "false_positives": int((strangers >= threshold).sum()),
                "fnir": float(1.0 - hits.mean()),
                "strangers": len(strangers),
                "mated": len(owners),
            }
        )
    return rows
