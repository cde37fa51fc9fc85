"""What the use cases answer, as plain data: an access decision and an enrolment image's verdict.

They live with the rules (not with the use cases that make them) so that the response schemas, the access log and
the metrics can read them without importing the use cases and the model stack behind them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from service.domain.policy import Reason

if TYPE_CHECKING:  # analysis imports the face model; a verdict only carries its result
    from service.domain.analysis import SubjectFace


class Decision(enum.StrEnum):
    GRANTED = "granted"
    DENIED = "denied"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MatchedPerson:
    """The person a face matched, as the log and the answer name them."""

    id: int
    external_id: str
    display_name: str


@dataclass(frozen=True)
class AccessOutcome:
    """One access decision: granted or denied, why, and the figures it rests on. ``log_id`` is the access-log
    entry (None until it is written, and if writing it failed)."""

    decision: Decision
    reason: Reason
    door_id: int
    person: MatchedPerson | None
    rule_id: int | None
    score: float | None
    margin: float | None
    frames: int
    usable_frames: int
    quality: dict[str, Any] | None
    latency_ms: float
    stages_ms: dict[str, float]
    log_id: int | None
    model_id: str
    threshold: float | None = None
    gallery_size: int | None = None
    at: datetime = field(default_factory=_now)

    @property
    def granted(self) -> bool:
        return self.decision is Decision.GRANTED


@dataclass(frozen=True)
class ImageVerdict:
    """What became of one uploaded image: ``template_id`` when enrolled, else ``reason`` (a stable code)."""

    index: int
    filename: str | None
    template_id: int | None
    reason: str | None
    face: SubjectFace | None
