"""Doors: create, list, show, change (name, time zone), delete. Admin keys only.

HTTP only: the checks and their codes live in :mod:`service.repositories.doors`; writes commit here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from service.api.auth import AdminKey
from service.api.deps import SessionDep
from service.api.errors import problem_responses
from service.core import records
from service.repositories import doors as doors_repo
from service.schemas.params import Digits
from service.schemas.rights import MAX_ID, DoorCreate, DoorPage, DoorPublic, DoorUpdate

router = APIRouter(prefix="/v1/doors", tags=["doors"])

DoorId = Annotated[Digits, Path(gt=0, le=MAX_ID, description="The door's id.")]
Limit = Annotated[Digits, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[Digits, Query(ge=0, le=MAX_ID, description="Items to skip.")]
_AUTH = (401, 403, 429)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a door",
    responses=problem_responses(*_AUTH, 409, 422),
)
def create_door(body: DoorCreate, session: SessionDep, _key: AdminKey) -> DoorPublic:
    """Add a door and the IANA time zone its schedules are read in.

    409 ``name_taken`` when another door has the name; 422 ``timezone_invalid`` for an unknown zone,
    ``name_invalid`` for a name with control characters.
    """
    door = records.create_door(session, body)
    session.commit()
    return DoorPublic.of(door)


@router.get("", summary="List doors", responses=problem_responses(*_AUTH, 422))
def list_doors(session: SessionDep, _key: AdminKey, limit: Limit = 100, offset: Offset = 0) -> DoorPage:
    """Doors by id, a page at a time."""
    doors, total = doors_repo.list_doors(session, limit=limit, offset=offset)
    return DoorPage(items=[DoorPublic.of(door) for door in doors], total=total, limit=limit, offset=offset)


@router.get("/{door_id}", summary="Show a door", responses=problem_responses(*_AUTH, 404, 422))
def get_door(door_id: DoorId, session: SessionDep, _key: AdminKey) -> DoorPublic:
    """The door; 404 ``door_not_found`` when there is none with this id."""
    return DoorPublic.of(doors_repo.get_door(session, door_id=door_id))


@router.patch("/{door_id}", summary="Change a door", responses=problem_responses(*_AUTH, 404, 409, 422))
def update_door(door_id: DoorId, body: DoorUpdate, session: SessionDep, _key: AdminKey) -> DoorPublic:
    """Rename the door and/or change its time zone (only the fields sent change).

    A new time zone moves every schedule at this door to the new local clock at once. 409 ``name_taken``,
    422 ``timezone_invalid``; on any error nothing changes.
    """
    door = records.update_door(session, door_id, body)
    session.commit()
    return DoorPublic.of(door)


@router.delete(
    "/{door_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a door",
    responses=problem_responses(*_AUTH, 404, 422),
)
def delete_door(door_id: DoorId, session: SessionDep, _key: AdminKey) -> Response:
    """Delete the door with its rules and its terminal keys' bindings to it; the access log keeps its name.

    A terminal key bound to this door only is left with no door: it is refused everywhere until an
    administrator binds it again or revokes it.
    """
    doors_repo.delete_door(session, door_id=door_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
