"""Groups and their members: rules may grant a group instead of each person. Admin keys only.

HTTP only: the checks and their codes live in :mod:`service.repositories.groups`; writes commit here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from service.api.auth import AdminKey
from service.api.deps import SessionDep
from service.api.errors import problem_responses
from service.core import records
from service.db.models import Person
from service.repositories import groups as groups_repo
from service.schemas.params import Digits
from service.schemas.rights import (
    MAX_ID,
    GroupCreate,
    GroupPage,
    GroupPublic,
    GroupUpdate,
    MemberPage,
    MemberPublic,
)

router = APIRouter(prefix="/v1/groups", tags=["groups"])

GroupId = Annotated[Digits, Path(gt=0, le=MAX_ID, description="The group's id.")]
PersonId = Annotated[Digits, Path(gt=0, le=MAX_ID, description="The person's id.")]
Limit = Annotated[Digits, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[Digits, Query(ge=0, le=MAX_ID, description="Items to skip.")]
_AUTH = (401, 403, 429)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a group",
    responses=problem_responses(*_AUTH, 409, 422),
)
def create_group(body: GroupCreate, session: SessionDep, _key: AdminKey) -> GroupPublic:
    """Add an empty group. 409 ``name_taken`` when another group has the name."""
    group = records.create_group(session, body)
    session.commit()
    return GroupPublic.of(group)


@router.get("", summary="List groups", responses=problem_responses(*_AUTH, 422))
def list_groups(session: SessionDep, _key: AdminKey, limit: Limit = 100, offset: Offset = 0) -> GroupPage:
    """Groups by id, a page at a time."""
    groups, total = groups_repo.list_groups(session, limit=limit, offset=offset)
    return GroupPage(items=[GroupPublic.of(group) for group in groups], total=total, limit=limit, offset=offset)


@router.get("/{group_id}", summary="Show a group", responses=problem_responses(*_AUTH, 404, 422))
def get_group(group_id: GroupId, session: SessionDep, _key: AdminKey) -> GroupPublic:
    """The group; 404 ``group_not_found`` when there is none with this id."""
    return GroupPublic.of(groups_repo.get_group(session, group_id=group_id))


@router.patch("/{group_id}", summary="Rename a group", responses=problem_responses(*_AUTH, 404, 409, 422))
def update_group(group_id: GroupId, body: GroupUpdate, session: SessionDep, _key: AdminKey) -> GroupPublic:
    """Rename the group; its members and rules stay. 409 ``name_taken`` when another group has the name."""
    group = records.update_group(session, group_id, body)
    session.commit()
    return GroupPublic.of(group)


@router.delete(
    "/{group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a group",
    responses=problem_responses(*_AUTH, 404, 422),
)
def delete_group(group_id: GroupId, session: SessionDep, _key: AdminKey) -> Response:
    """Delete the group, its memberships and the rules that grant it; its members themselves stay."""
    groups_repo.delete_group(session, group_id=group_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{group_id}/members", summary="List a group's members", responses=problem_responses(*_AUTH, 404, 422))
def list_members(
    group_id: GroupId, session: SessionDep, _key: AdminKey, limit: Limit = 100, offset: Offset = 0
) -> MemberPage:
    """The members by person id, a page at a time; 404 ``group_not_found`` for an unknown group."""
    people, total = groups_repo.list_members(session, group_id=group_id, limit=limit, offset=offset)
    return MemberPage(items=[MemberPublic.of(person) for person in people], total=total, limit=limit, offset=offset)


@router.put(
    "/{group_id}/members/{person_id}",
    summary="Add a person to a group",
    responses=problem_responses(*_AUTH, 404, 422),
)
def add_member(group_id: GroupId, person_id: PersonId, session: SessionDep, _key: AdminKey) -> MemberPublic:
    """Make the person a member; doing it again changes nothing (safe to retry).

    404 ``group_not_found`` or ``person_not_found``.
    """
    groups_repo.add_member(session, group_id=group_id, person_id=person_id)
    session.commit()
    return MemberPublic.of(session.get_one(Person, person_id))


@router.delete(
    "/{group_id}/members/{person_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a person from a group",
    responses=problem_responses(*_AUTH, 404, 422),
)
def remove_member(group_id: GroupId, person_id: PersonId, session: SessionDep, _key: AdminKey) -> Response:
    """End the membership (the group's rules stop applying to the person at once).

    404 ``group_not_found``, ``person_not_found``, or ``member_not_found`` when the person is not a member.
    """
    groups_repo.remove_member(session, group_id=group_id, person_id=person_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
