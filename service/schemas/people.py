"""Schemas of people, their face templates and enrolment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import Field

from service.db.models import FaceTemplate, Person, PersonStatus
from service.domain.outcomes import ImageVerdict
from service.schemas import FaceQualityPublic, Identifier, Instant, PlainText200, Schema

ExternalId = Identifier
DisplayName = PlainText200


class PersonCreate(Schema):
    external_id: ExternalId = Field(description="The operator's id, e.g. a badge number; unique.", examples=["B-1042"])
    display_name: DisplayName = Field(examples=["Ada Lovelace"])
    status: PersonStatus = PersonStatus.ACTIVE
    valid_from: Instant | None = Field(default=None, description="Not let in before (with a time zone).")
    valid_until: Instant | None = Field(default=None, description="Not let in from this instant on.")


class PersonUpdate(Schema):
    """Only the fields sent change; send ``null`` for a validity bound to clear it."""

    display_name: DisplayName | None = None
    status: PersonStatus | None = None
    valid_from: Instant | None = None
    valid_until: Instant | None = None


class PersonPublic(Schema):
    id: int
    external_id: str
    display_name: str
    status: PersonStatus
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime
    updated_at: datetime
    templates: int = Field(description="Face templates enrolled for the model now serving.")

    @classmethod
    def of(cls, person: Person, templates: int) -> PersonPublic:
        """The API's view of a stored person (the HTTP routes and the CLI's --json share it)."""
        return cls(
            id=person.id,
            external_id=person.external_id,
            display_name=person.display_name,
            status=person.status,
            valid_from=person.valid_from,
            valid_until=person.valid_until,
            created_at=person.created_at,
            updated_at=person.updated_at,
            templates=templates,
        )


class PersonPage(Schema):
    items: list[PersonPublic]
    total: int
    limit: int
    offset: int


class TemplatePublic(Schema):
    id: int
    model_id: str
    quality: FaceQualityPublic
    created_at: datetime
    has_crop: bool = Field(description="Whether the aligned crop is kept (encrypted) for re-embedding.")

    @classmethod
    def of(cls, template: FaceTemplate) -> TemplatePublic:
        """The API's view of a stored template: its quality figures, whether its crop is kept."""
        return cls(
            id=template.id,
            model_id=template.model_id,
            quality=FaceQualityPublic(
                interocular_px=template.interocular_px,
                det_score=template.det_score,
                blur=template.blur,
                yaw=template.yaw,
                pitch=template.pitch,
                roll=template.roll,
            ),
            created_at=template.created_at,
            has_crop=template.aligned_crop is not None,
        )


class EnrolledImage(Schema):
    """One uploaded image: enrolled (``template_id``) or refused (``reason``)."""

    index: int = Field(description="Position of the image in the request.")
    filename: str | None
    template_id: int | None = None
    reason: str | None = Field(
        default=None,
        description="Why it was refused: no_face, several_faces, face_too_small, low_detector_score, "
        "face_too_blurred, pose_too_large, or an image_* decoding code.",
    )
    quality: FaceQualityPublic | None = None


class EnrolmentResponse(Schema):
    person_id: int
    enrolled: int
    rejected: int
    images: list[EnrolledImage]

    @classmethod
    def of(cls, person_id: int, verdicts: Sequence[ImageVerdict]) -> EnrolmentResponse:
        """The answer to an enrolment, built from the use case's verdicts (route, console and CLI share it; a
        refused enrolment's verdicts read the same)."""
        enrolled = sum(v.template_id is not None for v in verdicts)
        return cls(
            person_id=person_id,
            enrolled=enrolled,
            rejected=len(verdicts) - enrolled,
            images=[
                EnrolledImage(
                    index=v.index,
                    filename=v.filename,
                    template_id=v.template_id,
                    reason=v.reason,
                    quality=FaceQualityPublic(**v.face.quality.as_dict()) if v.face and v.face.quality else None,
                )
                for v in verdicts
            ],
        )
