"""``GET /v1/access/log``: the decisions, newest first, filtered and paged. Auditors and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.auth import AuditorKey
from service.api.deps import SessionDep
from service.api.errors import problem_responses
from service.api.params import Digits
from service.db.models import Decision
from service.repositories.access_log import query_log
from service.schemas import Instant
from service.schemas.admin import LogEntryPublic, LogPage

router = APIRouter(prefix="/v1/access", tags=["access log"])

_Id = Annotated[Digits | None, Query(gt=0, le=2**31 - 1)]


@router.get("/log", summary="Query the access log", responses=problem_responses(401, 403, 422, 429, 503))
def access_log(
    session: SessionDep,
    _key: AuditorKey,
    since: Annotated[Instant | None, Query(description="From this instant (inclusive).")] = None,
    until: Annotated[Instant | None, Query(description="Before this instant.")] = None,
    door_id: _Id = None,
    person_id: _Id = None,
    decision: Decision | None = None,
    reason: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
    limit: Annotated[Digits, Query(ge=1, le=500)] = 100,
    offset: Annotated[Digits, Query(ge=0, le=2**31 - 1)] = 0,
) -> LogPage:
    entries, total = query_log(
        session,
        since=since,
        until=until,
        door_id=door_id,
        person_id=person_id,
        decision=decision,
        reason=reason,
        limit=limit,
        offset=offset,
    )
    return LogPage(
        items=[LogEntryPublic.model_validate(e, from_attributes=True) for e in entries],
        total=total,
        limit=limit,
        offset=offset,
    )
