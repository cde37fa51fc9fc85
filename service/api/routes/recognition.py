"""1:1 ``POST /v1/verify`` and 1:N ``POST /v1/identify``, admins only (a door terminal needs the access check
only; these would let it score any face against anyone enrolled): who is this face."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from service.api.auth import AdminKey
from service.api.deps import RuntimeDep, SettingsDep
from service.api.errors import problem_responses
from service.api.limits import read_upload
from service.core.recognition import identify, verify
from service.db.models import Person
from service.domain.analysis import SubjectFace
from service.schemas import FaceQualityPublic
from service.schemas.access import CandidatePublic, IdentificationResponse, PersonRef, VerificationResponse
from service.schemas.params import Digits

router = APIRouter(prefix="/v1", tags=["recognition"])


def _quality(face: SubjectFace) -> FaceQualityPublic | None:
    return FaceQualityPublic(**face.quality.as_dict()) if face.quality is not None else None


def _ref(person: Person) -> PersonRef:
    return PersonRef(id=person.id, external_id=person.external_id, display_name=person.display_name)


@router.post(
    "/verify",
    summary="1:1: is this the claimed person?",
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
)
async def verify_person(
    person_id: Annotated[Digits, Form(gt=0, le=2**31 - 1, description="The claimed person (e.g. from a badge).")],
    image: Annotated[UploadFile, File(description="The face image.")],
    runtime: RuntimeDep,
    settings: SettingsDep,
    _key: AdminKey,
) -> VerificationResponse:
    """The best cosine score between the image's subject and the person's templates, against the threshold.
    No access decision and no log entry: doors use ``/v1/access/check``."""
    data = await read_upload(image, settings.max_upload_bytes)
    result = await run_in_threadpool(verify, runtime, person_id=person_id, image=data)
    return VerificationResponse(
        person_id=result.person_id,
        verified=result.verified,
        score=result.score,
        threshold=result.threshold,
        reason=result.reason,
        quality=_quality(result.face),
    )


@router.post(
    "/identify",
    summary="1:N: the nearest enrolled people",
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
)
async def identify_face(
    image: Annotated[UploadFile, File(description="The face image.")],
    runtime: RuntimeDep,
    settings: SettingsDep,
    _key: AdminKey,
    k: Annotated[Digits, Query(ge=1, le=100, description="How many people to return.")] = 5,
) -> IdentificationResponse:
    """The ``k`` nearest people by their best template, best first, and whom the match rule accepts."""
    data = await read_upload(image, settings.max_upload_bytes)
    result = await run_in_threadpool(identify, runtime, image=data, k=k)
    face = result.face
    if face.issue is not None:
        reason: str | None = face.issue.value
    elif result.match is not None and result.match.reason is not None:
        reason = result.match.reason.value
    else:
        reason = None
    matched = None
    if result.match is not None and result.match.matched:
        matched = next((_ref(c.person) for c in result.candidates if c.person.id == result.match.person_id), None)
    return IdentificationResponse(
        candidates=[
            CandidatePublic(person=_ref(c.person), score=c.score, template_id=c.template_id) for c in result.candidates
        ],
        match=matched,
        reason=reason,
        threshold=result.threshold,
        quality=_quality(face),
    )
