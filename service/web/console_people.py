"""Console pages for people: search and list, add, show (status, validity, groups), enrol face images (each
image's quality result shown), delete with confirmation. Same repositories and enrolment use case as the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from service.api.limits import read_upload
from service.core import records
from service.core.enrolment import DuplicateIdentityError, NothingEnrolledError, enrol_images
from service.db.models import PersonStatus
from service.repositories import people as people_repo
from service.repositories import templates as templates_repo
from service.repositories.browser_sessions import BrowserSession
from service.repositories.errors import StorageError
from service.schemas.params import Digits
from service.schemas.people import EnrolmentResponse, PersonCreate, PersonUpdate
from service.web.pages import done, error_text, form_text, problem_text, render, runtime_of
from service.web.security import console_admin, console_user

router = APIRouter(prefix="/console/people", include_in_schema=False)

Viewer = Annotated[BrowserSession, Depends(console_user)]
Changer = Annotated[BrowserSession, Depends(console_admin)]
PersonId = Annotated[Digits, Path(gt=0, le=2**31 - 1)]
PAGE_SIZE = 50


def _instant(text: str) -> datetime | None:
    """A date (YYYY-MM-DD) from a form, as midnight UTC; '' is none."""
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC) if text else None


@router.get("")
def people_page(
    request: Request,
    _user: Viewer,
    q: Annotated[str, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = "",
    offset: Annotated[Digits, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    runtime = runtime_of(request)
    with runtime.sessionmaker() as session:
        people, total = people_repo.list_people(session, search=q or None, limit=PAGE_SIZE, offset=offset)
        counts = people_repo.template_counts(
            session, person_ids=[p.id for p in people], model_id=runtime.embedder.model_id
        )
    return render(
        request,
        "people.html",
        {"people": people, "counts": counts, "total": total, "q": q, "offset": offset, "page_size": PAGE_SIZE},
    )


@router.post("")
async def create_person(request: Request, _user: Changer) -> Response:
    form = await request.form()
    runtime = runtime_of(request)
    try:
        body = PersonCreate.model_validate(
            {
                "external_id": form_text(form, "external_id"),
                "display_name": form_text(form, "display_name"),
                "valid_from": _instant(form_text(form, "valid_from")),
                "valid_until": _instant(form_text(form, "valid_until")),
            }
        )
        with runtime.sessionmaker.begin() as session:
            person = records.create_person(session, body)
    except (ValidationError, ValueError, StorageError) as exc:
        return await _list_with_error(request, problem_text(exc))
    return done(f"/console/people/{person.id}", f"added {person.display_name}")


async def _list_with_error(request: Request, message: str) -> Response:
    runtime = runtime_of(request)
    with runtime.sessionmaker() as session:
        people, total = people_repo.list_people(session, limit=PAGE_SIZE, offset=0)
        counts = people_repo.template_counts(
            session, person_ids=[p.id for p in people], model_id=runtime.embedder.model_id
        )
    context = {"people": people, "counts": counts, "total": total, "q": "", "offset": 0, "page_size": PAGE_SIZE}
    return render(request, "people.html", context | {"error": message}, status_code=422)


def _person_context(request: Request, person_id: int) -> dict[str, object]:
    runtime = runtime_of(request)
    with runtime.sessionmaker() as session:
        person = people_repo.get_person(session, person_id=person_id)
        faces = templates_repo.list_templates(session, person_id=person_id)
    return {"person": person, "faces": faces, "model_id": runtime.embedder.model_id}


@router.get("/{person_id}")
def person_page(request: Request, person_id: PersonId, _user: Viewer) -> Response:
    try:
        context = _person_context(request, person_id)
    except StorageError as exc:
        return render(request, "forbidden.html", {"code": exc.code, "message": str(exc)}, status_code=404)
    return render(request, "person.html", context)


@router.post("/{person_id}")
async def update_person(request: Request, person_id: PersonId, _user: Changer) -> Response:
    """Name, status and validity dates (empty date: no bound)."""
    form = await request.form()
    runtime = runtime_of(request)
    try:
        body = PersonUpdate.model_validate(
            {
                "display_name": form_text(form, "display_name"),
                "status": form_text(form, "status") or PersonStatus.ACTIVE.value,
                "valid_from": _instant(form_text(form, "valid_from")),
                "valid_until": _instant(form_text(form, "valid_until")),
            }
        )
        with runtime.sessionmaker.begin() as session:
            records.update_person(session, person_id, body)
    except (ValidationError, ValueError, StorageError) as exc:
        context = _person_context(request, person_id) | {"error": problem_text(exc)}
        return render(request, "person.html", context, status_code=422)
    return done(f"/console/people/{person_id}", "saved")


@router.post("/{person_id}/faces")
async def enrol(request: Request, person_id: PersonId, _user: Changer) -> Response:
    """Enrol the uploaded images; the page lists each image's verdict and quality figures."""
    runtime = runtime_of(request)
    settings = runtime.settings
    form = await request.form()
    uploads = [item for item in form.getlist("images") if isinstance(item, UploadFile) and item.filename]
    context = _person_context(request, person_id)
    if not uploads:
        return render(request, "person.html", context | {"error": "choose one or more images"}, status_code=422)
    if len(uploads) > settings.max_images_per_request:
        message = f"at most {settings.max_images_per_request} images at once"
        return render(request, "person.html", context | {"error": message}, status_code=422)
    try:
        images = [(u.filename, await read_upload(u, settings.max_upload_bytes)) for u in uploads]
        result = await run_in_threadpool(
            enrol_images, runtime, person_id=person_id, images=images, force=form_text(form, "force") == "on"
        )
        verdicts, message, status = result.verdicts, f"enrolled {result.enrolled} of {len(images)} image(s)", 200
    except NothingEnrolledError as exc:
        verdicts, message, status = exc.verdicts, "no image gave a usable face", 422
    except DuplicateIdentityError as exc:
        verdicts, message, status = [], f"{exc} (tick 'enrol anyway' if this is right)", 409
    except StorageError as exc:
        verdicts, message, status = [], error_text(exc), 422
    return render(
        request,
        "person.html",
        _person_context(request, person_id)
        | {"verdicts": EnrolmentResponse.of(person_id, verdicts).images, "enrol_message": message},
        status_code=status,
    )


@router.get("/{person_id}/delete")
def confirm_delete(request: Request, person_id: PersonId, _user: Viewer) -> Response:
    return render(request, "person_delete.html", _person_context(request, person_id))


@router.post("/{person_id}/delete")
async def delete_person(request: Request, person_id: PersonId, _user: Changer) -> Response:
    runtime = runtime_of(request)
    with runtime.sessionmaker.begin() as session:
        template_ids, revision = people_repo.delete_person(session, person_id=person_id)
    runtime.index.apply(removed_template_ids=template_ids, revision=revision)
    return done("/console/people", f"deleted person {person_id} and their face data")
