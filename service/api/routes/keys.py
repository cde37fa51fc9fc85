"""API keys: create (the key is shown once), list, revoke. Admin keys only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from service.api.auth import AdminKey
from service.api.deps import SessionDep
from service.api.errors import problem_responses
from service.core import records
from service.repositories import keys as keys_repo
from service.schemas.admin import KeyCreate, KeyCreated, KeyPublic
from service.schemas.params import Digits

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
)
def create_key(body: KeyCreate, session: SessionDep, _key: AdminKey) -> KeyCreated:
    """A new key; ``key`` in the answer is the secret, shown this once. A terminal key names its doors."""
    key, token = records.create_key(session, body)
    session.commit()
    return KeyCreated(**records.key_public(session, key).model_dump(), key=token)


@router.get("", summary="List API keys", responses=problem_responses(401, 403, 422, 429, 503))
def list_keys(
    session: SessionDep, _key: AdminKey, include_revoked: Annotated[bool, Query()] = False
) -> list[KeyPublic]:
    return [records.key_public(session, key) for key in keys_repo.list_keys(session, include_revoked=include_revoked)]


@router.delete("/{key_id}", summary="Revoke an API key", responses=problem_responses(401, 403, 404, 409, 422, 429, 503))
def revoke_key(key_id: Annotated[Digits, Path(gt=0, le=2**31 - 1)], session: SessionDep, caller: AdminKey) -> KeyPublic:
    """The key stops working at once (on every replica: keys are checked in SQL on each request).

    409 ``key_in_use`` for the calling key itself, 409 ``last_admin_key`` for the last active admin key.
    """
    key = keys_repo.revoke_key(session, key_id=key_id, caller_key_id=caller.key_id)
    session.commit()
    return records.key_public(session, key)
