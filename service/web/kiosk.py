"""The door kiosk, ``/kiosk/{door_id}``: a full-screen page beside the door, signed in with a terminal key bound to
that door. Its script (static/kiosk.js) shows the camera, sends a few frames when the picture is steady, and shows
the answer large. The answer it gets carries only what the person at the door may see: granted with the display
name of the one let in, or denied with a plain-language reason; never scores, ids or anyone else's data.

The check is the API's access check (:func:`service.core.access.check_at_door`): same decision, same log row,
same outbox event.
"""

from __future__ import annotations

from typing import Annotated, Final, cast

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile

from models.imageio import ImageError
from service.api.auth import MAX_TOKEN_LENGTH
from service.api.limits import read_upload
from service.api.metrics import ServiceMetrics
from service.config import Settings
from service.core.access import check_at_door
from service.db.models import KeyRole
from service.domain.policy import Reason
from service.repositories.browser_sessions import BrowserSession, open_session
from service.repositories.doors import get_door
from service.repositories.errors import NotFoundError
from service.schemas.params import Digits
from service.web.pages import render, runtime_of
from service.web.security import KIOSK_COOKIE, PageForbidden, check_csrf, current_session, set_session_cookie
from service.web.signin import check_signin, signin_form

router = APIRouter(prefix="/kiosk", include_in_schema=False)

DoorId = Annotated[Digits, Path(gt=0, le=2**31 - 1)]
MAX_KIOSK_FRAMES: Final = 3

# What the person at the door reads. Reasons about the matched person's record (suspended, expired) are not told
# apart: the face may have matched someone else, whose status is none of this person's business.
MESSAGES: Final[dict[Reason, str]] = {
    Reason.GRANTED: "Welcome",
    Reason.UNKNOWN_FACE: "Face not recognised",
    Reason.AMBIGUOUS_MATCH: "Face not recognised clearly: please try again",
    Reason.NO_FACE: "No face seen: please look at the camera",
    Reason.QUALITY_TOO_LOW: "Please move closer and look at the camera",
    Reason.NO_RULE: "No access at this door",
    Reason.OUTSIDE_SCHEDULE: "No access at this time",
    Reason.PERSON_SUSPENDED: "No access: please see reception",
    Reason.PERSON_NOT_YET_VALID: "No access: please see reception",
    Reason.PERSON_EXPIRED: "No access: please see reception",
    Reason.INTERNAL_ERROR: "Something went wrong: please try again",
}


def _cookie_path(door_id: int) -> str:
    return f"/kiosk/{door_id}"


def _kiosk_session(request: Request, door_id: int) -> BrowserSession | None:
    found = current_session(request, KIOSK_COOKIE)
    if found is None or found.principal.role is not KeyRole.TERMINAL or door_id not in found.principal.door_ids:
        return None
    return found


def _door_name(request: Request, door_id: int) -> str | None:
    try:
        with runtime_of(request).sessionmaker() as session:
            return get_door(session, door_id=door_id).name
    except NotFoundError:
        return None


@router.get("/{door_id}")
def kiosk_page(request: Request, door_id: DoorId) -> Response:
    name = _door_name(request, door_id)
    if name is None:
        return render(request, "forbidden.html", {"code": "door_not_found", "message": "no such door"}, status_code=404)
    found = _kiosk_session(request, door_id)
    if found is None:
        return signin_form(request, "kiosk_signin.html", {"door_id": door_id, "door_name": name, "error": None})
    return render(request, "kiosk.html", {"door_id": door_id, "door_name": name, "kiosk_csrf": found.csrf_token})


@router.post("/{door_id}/signin")
def kiosk_signin(
    request: Request,
    door_id: DoorId,
    key: Annotated[str, Form(max_length=MAX_TOKEN_LENGTH)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    name = _door_name(request, door_id)
    principal = check_signin(request, csrf_token, key, (KeyRole.TERMINAL,))
    if name is None or principal is None or door_id not in principal.door_ids:
        context = {"door_id": door_id, "door_name": name or "?", "error": "That is not this door's terminal key."}
        return signin_form(request, "kiosk_signin.html", context, status_code=401)
    settings = cast(Settings, request.app.state.settings)
    with runtime_of(request).sessionmaker.begin() as session:
        token, _csrf = open_session(session, principal=principal, ttl_s=settings.kiosk_session_ttl_s)
    response = RedirectResponse(_cookie_path(door_id), status_code=303)
    set_session_cookie(
        response,
        request,
        name=KIOSK_COOKIE,
        token=token,
        path=_cookie_path(door_id),
        max_age=settings.kiosk_session_ttl_s,
    )
    return response


@router.post("/{door_id}/check")
async def kiosk_check(request: Request, door_id: DoorId) -> JSONResponse:
    """A few frames (multipart ``frames``, at most 3) → ``{"granted", "name", "message"}``."""
    found = _kiosk_session(request, door_id)
    if found is None:
        return JSONResponse({"error": "signed_out", "message": "Kiosk signed out"}, status_code=401)
    await check_csrf(request, found.csrf_token)
    runtime = runtime_of(request)
    form = await request.form(max_files=MAX_KIOSK_FRAMES, max_fields=4)
    frames = [item for item in form.getlist("frames") if isinstance(item, UploadFile)]
    if not frames or len(frames) > MAX_KIOSK_FRAMES:
        raise PageForbidden("frames_invalid", f"send 1 to {MAX_KIOSK_FRAMES} frames")
    data = [await read_upload(frame, runtime.settings.max_upload_bytes) for frame in frames]
    metrics = cast(ServiceMetrics, request.app.state.metrics)
    try:
        outcome = await run_in_threadpool(
            check_at_door,
            runtime,
            door_id=door_id,
            frames=data,
            key_id=found.principal.key_id,
            observe=metrics.observe_decision,
        )
    except ImageError:
        return JSONResponse({"granted": False, "name": None, "message": MESSAGES[Reason.NO_FACE]}, status_code=400)
    name = outcome.person.display_name if outcome.granted and outcome.person is not None else None
    return JSONResponse({"granted": outcome.granted, "name": name, "message": MESSAGES[outcome.reason]})
