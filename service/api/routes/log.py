"""``GET /v1/access/log``: the decisions, newest first, filtered and paged. Auditors and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.auth import AuditorKey
from service.api.deps import SessionDep
from service.api.errors import problem_responses
from service.repositories.access_log import query_log
from service.schemas.admin import LogEntryPublic, LogPage, LogQuery

router = APIRouter(prefix="/v1/access", tags=["access log"])


@router.get("/log", summary="Query the access log", responses=problem_responses(401, 403, 422, 429, 503))
def access_log(session: SessionDep, _key: AuditorKey, query: Annotated[LogQuery, Query()]) -> LogPage:
    entries, total = query_log(session, query)
    return LogPage(items=[LogEntryPublic.of(e) for e in entries], total=total, limit=query.limit, offset=query.offset)
