"""The match rule and the frames rule, on hand-made hits (no model, no index)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from service.domain.matching import Match, MatchRule, combine_frames, match_face, match_fused
from service.domain.policy import Reason

RULE = MatchRule(threshold=0.40, margin=0.05)


@dataclass(frozen=True)
class H:
    person_id: int
    score: float


def test_no_hits_is_unknown() -> None:
    assert match_face([], RULE) == Match(None, None, None, Reason.UNKNOWN_FACE)


@pytest.mark.parametrize(
    ("hits", "person", "reason"),
    [
        ([H(1, 0.80)], 1, None),  # alone above the threshold: no margin to check
        ([H(1, 0.40)], 1, None),  # the threshold is inclusive
        ([H(1, 0.399)], None, Reason.UNKNOWN_FACE),
        ([H(1, 0.80), H(2, 0.60)], 1, None),
        ([H(2, 0.60), H(1, 0.80)], 1, None),  # order of the hits does not matter
        ([H(1, 0.80), H(2, 0.77)], None, Reason.AMBIGUOUS_MATCH),
        ([H(1, 0.30), H(2, 0.29)], None, Reason.UNKNOWN_FACE),  # below the threshold wins over ambiguity
    ],
)
def test_match_rule(hits: list[H], person: int | None, reason: Reason | None) -> None:
    result = match_face(hits, RULE)
    assert result.person_id == person
    assert result.reason == reason
    assert result.score == max(h.score for h in hits)


def test_margin_is_lead_over_next_person() -> None:
    result = match_face([H(1, 0.9), H(2, 0.5), H(3, 0.1)], RULE)
    assert result.margin == pytest.approx(0.4)


def test_frames_must_agree() -> None:
    a = match_face([H(1, 0.9), H(2, 0.2)], RULE)
    a2 = match_face([H(1, 0.6), H(2, 0.5)], RULE)
    b = match_face([H(2, 0.9)], RULE)
    unknown = match_face([H(1, 0.1)], RULE)
    both = combine_frames([a, a2])
    assert both.person_id == 1 and both.score == pytest.approx(0.6) and both.margin == pytest.approx(0.1)
    assert combine_frames([a, b]).reason is Reason.AMBIGUOUS_MATCH
    assert combine_frames([a, unknown]).reason is Reason.UNKNOWN_FACE
    with pytest.raises(ValueError):
        combine_frames([])


def test_fused_match_needs_every_frame_nearest_the_same_person() -> None:
    fused = [H(1, 0.70), H(2, 0.60)]
    assert match_fused(fused, [[H(1, 0.5), H(2, 0.3)], [H(1, 0.45)]], RULE).person_id == 1
    mixed = match_fused(fused, [[H(1, 0.5)], [H(2, 0.55), H(1, 0.2)]], RULE)
    assert (mixed.person_id, mixed.reason, mixed.score) == (None, Reason.AMBIGUOUS_MATCH, 0.70)
    # a frame with no hits, or frames whose own scores are below the threshold, do not veto
    assert match_fused(fused, [[], [H(1, 0.30)]], RULE).person_id == 1
    # below the threshold stays unknown whatever the frames say
    assert match_fused([H(1, 0.30)], [[H(1, 0.9)]], RULE).reason is Reason.UNKNOWN_FACE
