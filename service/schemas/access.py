"""Schemas of access checks, verification and identification."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from service.domain.outcomes import AccessOutcome, Decision
from service.domain.policy import Reason
from service.schemas import FaceQualityPublic, Schema


class PersonRef(Schema):
    id: int
    external_id: str
    display_name: str


class AccessDecision(Schema):
    """The answer to a door: granted or denied, why, and the figures it rests on."""

    decision: Decision
    reason: Reason = Field(description="granted, or why not (stable codes; see the API guide).")
    door_id: int
    person: PersonRef | None = Field(default=None, description="The matched person, when the face matched someone.")
    score: float | None = Field(default=None, description="Cosine score of the best person (weakest frame).")
    margin: float | None = Field(default=None, description="Lead of the best person over the next one.")
    threshold: float = Field(
        description="The match threshold in force (from the model's calibration; with target_fpir it follows the "
        "gallery size)."
    )
    gallery_size: int | None = Field(
        default=None, description="Templates searched, the gallery size the threshold was derived for."
    )
    frames: int
    usable_frames: int
    quality: dict[str, float | str] | None = None
    latency_ms: float
    stages_ms: dict[str, float] = Field(
        description="Time per stage: decode, detect, align, embed, search, policy, log."
    )
    log_id: int | None = Field(description="The access-log entry of this decision (None only if logging failed).")
    rule_id: int | None = Field(default=None, description="The rule that granted access; null for a denial.")
    model_id: str
    at: datetime

    @classmethod
    def of(cls, outcome: AccessOutcome, threshold: float) -> AccessDecision:
        """The answer for a decision of :func:`service.core.access.check_access` (the route and the CLI share it)."""
        person = outcome.person
        return cls(
            decision=outcome.decision,
            reason=outcome.reason,
            door_id=outcome.door_id,
            person=PersonRef(id=person.id, external_id=person.external_id, display_name=person.display_name)
            if person
            else None,
            score=outcome.score,
            margin=outcome.margin,
            threshold=outcome.threshold if outcome.threshold is not None else threshold,
            gallery_size=outcome.gallery_size,
            frames=outcome.frames,
            usable_frames=outcome.usable_frames,
            quality=outcome.quality,
            latency_ms=outcome.latency_ms,
            stages_ms=outcome.stages_ms,
            log_id=outcome.log_id,
            rule_id=outcome.rule_id,
            model_id=outcome.model_id,
            at=outcome.at,
        )


class VerificationResponse(Schema):
    person_id: int
    verified: bool
    score: float | None
    threshold: float
    reason: str | None = Field(description="Why not verified: a quality code, no_templates or below_threshold.")
    quality: FaceQualityPublic | None = None


class CandidatePublic(Schema):
    person: PersonRef
    score: float
    template_id: int


class IdentificationResponse(Schema):
    candidates: list[CandidatePublic] = Field(description="Nearest people, best first.")
    match: PersonRef | None = Field(description="The person the match rule accepts, if any.")
    reason: str | None = Field(description="Why nobody matched: unknown_face, ambiguous_match or a quality code.")
    threshold: float
    quality: FaceQualityPublic | None = None
