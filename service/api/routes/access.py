"""``POST /v1/access/check``: the door terminal's question. Terminal keys (at their own doors) and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from service.api.auth import TerminalKey
from service.api.deps import MetricsDep, RuntimeDep, SettingsDep
from service.api.errors import DoorNotAllowedError, TooManyImagesError, problem_responses
from service.api.limits import read_upload
from service.core.access import check_at_door
from service.schemas.access import AccessDecision
from service.schemas.params import Digits

router = APIRouter(prefix="/v1/access", tags=["access"])


@router.post(
    "/check",
    summary="Decide whether the person at a door may pass",
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
)
async def access_check(
    door_id: Annotated[Digits, Form(gt=0, le=2**31 - 1, description="The door asked about.")],
    frames: Annotated[list[UploadFile], File(description="One or more frames of the person at the door.")],
    runtime: RuntimeDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    key: TerminalKey,
) -> AccessDecision:
    """``granted`` or ``denied`` with a reason code: ``granted``, ``unknown_face``, ``ambiguous_match``, ``no_face``,
    ``quality_too_low``, ``no_rule``, ``outside_schedule``, ``person_suspended``, ``person_not_yet_valid``,
    ``person_expired`` or ``internal_error``.

    Several frames must agree: every frame showing a usable face must match the same person (frames without a
    usable face are skipped; with none at all the answer is ``no_face`` or ``quality_too_low``). Every decision is
    written to the access log; any internal failure denies (fail closed) and is logged too. A frame that is not
    a decodable image is a 4xx (nothing decided); an unknown door 404; a door the terminal is not bound to 403.
    """
    if len(frames) > settings.max_images_per_request:
        raise TooManyImagesError(settings.max_images_per_request)
    if not key.may_use_door(door_id):
        raise DoorNotAllowedError(f"this key may not ask about door {door_id}")
    data = [await read_upload(frame, settings.max_upload_bytes) for frame in frames]
    outcome = await run_in_threadpool(
        check_at_door, runtime, door_id=door_id, frames=data, key_id=key.key_id, observe=metrics.observe_decision
    )
    return AccessDecision.of(outcome, runtime.match_rule.threshold)
