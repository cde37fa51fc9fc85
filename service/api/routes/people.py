"""People: CRUD, enrolment by face images, and their templates. Admin keys only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from service.api.auth import AdminKey
from service.api.deps import RuntimeDep, SessionDep, SettingsDep
from service.api.errors import TooManyImagesError, problem_responses
from service.api.limits import read_upload
from service.core import records
from service.core.enrolment import enrol_images
from service.db.models import PersonStatus
from service.repositories import people as people_repo
from service.repositories import templates as templates_repo
from service.schemas.params import Digits
from service.schemas.people import (
    EnrolmentResponse,
    PersonCreate,
    PersonPage,
    PersonPublic,
    PersonUpdate,
    TemplatePublic,
)

router = APIRouter(prefix="/v1/people", tags=["people"])

PersonId = Annotated[Digits, Path(gt=0, le=2**31 - 1, description="The person's id.")]
_AUTH = (401, 403, 429)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Add a person", responses=problem_responses(*_AUTH, 409, 422, 503)
)
def create_person(body: PersonCreate, session: SessionDep, _key: AdminKey) -> PersonPublic:
    """Add a person (no face yet: enrol images next). 409 ``external_id_taken`` when the external id is in use."""
    person = records.create_person(session, body)
    session.commit()
    return PersonPublic.of(person, 0)


@router.get("", summary="List people", responses=problem_responses(*_AUTH, 422, 503))
def list_people(
    session: SessionDep,
    runtime: RuntimeDep,
    _key: AdminKey,
    status_filter: Annotated[PersonStatus | None, Query(alias="status")] = None,
    search: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$", description="Part of the external id or name."),
    ] = None,
    limit: Annotated[Digits, Query(ge=1, le=500)] = 100,
    offset: Annotated[Digits, Query(ge=0, le=2**31 - 1)] = 0,
) -> PersonPage:
    """People by id, a page at a time."""
    model_id = runtime.embedder.model_id
    return records.people_page(
        session, model_id=model_id, status=status_filter, search=search, limit=limit, offset=offset
    )


@router.get("/{person_id}", summary="Show a person", responses=problem_responses(*_AUTH, 404, 422, 503))
def get_person(person_id: PersonId, session: SessionDep, runtime: RuntimeDep, _key: AdminKey) -> PersonPublic:
    person = people_repo.get_person(session, person_id=person_id)
    return records.person_public(session, person, model_id=runtime.embedder.model_id)


@router.patch("/{person_id}", summary="Change a person", responses=problem_responses(*_AUTH, 404, 422, 503))
def update_person(
    person_id: PersonId, body: PersonUpdate, session: SessionDep, runtime: RuntimeDep, _key: AdminKey
) -> PersonPublic:
    """Change the fields sent: name, status (``suspended`` denies at every door), validity bounds."""
    person = records.update_person(session, person_id, body)
    session.commit()
    return records.person_public(session, person, model_id=runtime.embedder.model_id)


@router.delete(
    "/{person_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a person and their face data",
    responses=problem_responses(*_AUTH, 404, 422, 503),
)
def delete_person(person_id: PersonId, session: SessionDep, runtime: RuntimeDep, _key: AdminKey) -> Response:
    """Delete the person, their templates (and kept crops), memberships and rules; the access log keeps their
    external id. Their templates leave this replica's index at once and the others' within a second."""
    template_ids, revision = people_repo.delete_person(session, person_id=person_id)
    session.commit()
    runtime.index.apply(removed_template_ids=template_ids, revision=revision)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{person_id}/faces",
    status_code=status.HTTP_201_CREATED,
    summary="Enrol face images",
    responses=problem_responses(*_AUTH, 400, 404, 409, 413, 415, 422, 503),
)
async def enrol(
    person_id: PersonId,
    images: Annotated[list[UploadFile], File(description="One or more face images of this person.")],
    runtime: RuntimeDep,
    settings: SettingsDep,
    _key: AdminKey,
    force: Annotated[bool, Query(description="Enrol even if the face matches another person.")] = False,
) -> EnrolmentResponse:
    """Each image is quality-gated (one clear, large, sharp, frontal face); the good ones become templates.

    Refused images are listed with their reason. 422 ``no_usable_face`` when none is usable; 409
    ``duplicate_identity`` when the face matches another person above the threshold (``force=true`` overrides).
    """
    if len(images) > settings.max_images_per_request:
        raise TooManyImagesError(settings.max_images_per_request)
    uploads = [(upload.filename, await read_upload(upload, settings.max_upload_bytes)) for upload in images]
    result = await run_in_threadpool(enrol_images, runtime, person_id=person_id, images=uploads, force=force)
    return EnrolmentResponse.of(person_id, result.verdicts)


@router.get(
    "/{person_id}/faces", summary="List a person's templates", responses=problem_responses(*_AUTH, 404, 422, 503)
)
def list_faces(person_id: PersonId, session: SessionDep, _key: AdminKey) -> list[TemplatePublic]:
    people_repo.get_person(session, person_id=person_id)
    return [TemplatePublic.of(t) for t in templates_repo.list_templates(session, person_id=person_id)]


@router.delete(
    "/{person_id}/faces/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one template",
    responses=problem_responses(*_AUTH, 404, 422, 503),
)
def delete_face(
    person_id: PersonId,
    template_id: Annotated[Digits, Path(gt=0, le=2**31 - 1)],
    session: SessionDep,
    runtime: RuntimeDep,
    _key: AdminKey,
) -> Response:
    people_repo.get_person(session, person_id=person_id)
    revision = templates_repo.delete_template(session, person_id=person_id, template_id=template_id)
    session.commit()
    runtime.index.apply(removed_template_ids=[template_id], revision=revision)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
