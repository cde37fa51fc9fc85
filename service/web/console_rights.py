"""Console pages for rights: doors, groups and their members, access rules with a weekly schedule editor (times
in the door's own time zone). Same schemas and repositories as the API, so the same input is refused the same way."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import ValidationError

from service.core import records
from service.repositories import doors as doors_repo
from service.repositories import groups as groups_repo
from service.repositories import people as people_repo
from service.repositories import rules as rules_repo
from service.repositories.browser_sessions import BrowserSession
from service.repositories.errors import StorageError
from service.schemas.params import Digits
from service.schemas.rights import DAY_NAMES, DoorCreate, GroupCreate, RuleCreate, RulePublic
from service.web.pages import done, form_id, form_text, problem_text, render, runtime_of
from service.web.security import console_admin, console_user

router = APIRouter(prefix="/console", include_in_schema=False)

Viewer = Annotated[BrowserSession, Depends(console_user)]
Changer = Annotated[BrowserSession, Depends(console_admin)]
RowId = Annotated[Digits, Path(gt=0, le=2**31 - 1)]
WINDOW_ROWS = 3  # schedule rows the editor offers; a rule may hold more through the API
LISTED = 500


# -- doors ------------------------------------------------------------------------------------------------------


def _doors_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    with runtime_of(request).sessionmaker() as session:
        doors, total = doors_repo.list_doors(session, limit=LISTED, offset=0)
    return render(request, "doors.html", {"doors": doors, "total": total, "error": error}, status_code=status_code)


@router.get("/doors")
def doors_page(request: Request, _user: Viewer) -> Response:
    return _doors_page(request)


@router.post("/doors")
async def create_door(request: Request, _user: Changer) -> Response:
    form = await request.form()
    try:
        body = DoorCreate.model_validate({"name": form_text(form, "name"), "timezone": form_text(form, "timezone")})
        with runtime_of(request).sessionmaker.begin() as session:
            door = records.create_door(session, body)
    except (ValidationError, StorageError) as exc:
        return _doors_page(request, problem_text(exc), 422)
    return done("/console/doors", f"added door {door.name}")


@router.post("/doors/{door_id}/delete")
async def delete_door(request: Request, door_id: RowId, _user: Changer) -> Response:
    try:
        with runtime_of(request).sessionmaker.begin() as session:
            doors_repo.delete_door(session, door_id=door_id)
    except StorageError as exc:
        return _doors_page(request, problem_text(exc), 404)
    return done("/console/doors", f"deleted door {door_id} and its rules")


# -- groups -----------------------------------------------------------------------------------------------------


def _groups_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    with runtime_of(request).sessionmaker() as session:
        groups, total = groups_repo.list_groups(session, limit=LISTED, offset=0)
    return render(request, "groups.html", {"groups": groups, "total": total, "error": error}, status_code=status_code)


@router.get("/groups")
def groups_page(request: Request, _user: Viewer) -> Response:
    return _groups_page(request)


@router.post("/groups")
async def create_group(request: Request, _user: Changer) -> Response:
    form = await request.form()
    try:
        body = GroupCreate.model_validate({"name": form_text(form, "name")})
        with runtime_of(request).sessionmaker.begin() as session:
            group = records.create_group(session, body)
    except (ValidationError, StorageError) as exc:
        return _groups_page(request, problem_text(exc), 422)
    return done(f"/console/groups/{group.id}", f"added group {group.name}")


def _group_page(request: Request, group_id: int, error: str | None = None, status_code: int = 200) -> Response:
    with runtime_of(request).sessionmaker() as session:
        group = groups_repo.get_group(session, group_id=group_id)
        members, total = groups_repo.list_members(session, group_id=group_id, limit=LISTED, offset=0)
    context = {"group": group, "members": members, "total": total, "error": error}
    return render(request, "group.html", context, status_code=status_code)


@router.get("/groups/{group_id}")
def group_page(request: Request, group_id: RowId, _user: Viewer) -> Response:
    return _group_page(request, group_id)


@router.post("/groups/{group_id}/members")
async def add_member(request: Request, group_id: RowId, _user: Changer) -> Response:
    """Add a member by external id (badge number)."""
    form = await request.form()
    try:
        with runtime_of(request).sessionmaker.begin() as session:
            person = people_repo.get_person_by_external_id(session, external_id=form_text(form, "external_id"))
            groups_repo.add_member(session, group_id=group_id, person_id=person.id)
    except StorageError as exc:
        return _group_page(request, group_id, problem_text(exc), 422)
    return done(f"/console/groups/{group_id}", f"added {person.display_name}")


@router.post("/groups/{group_id}/members/{person_id}/delete")
async def remove_member(request: Request, group_id: RowId, person_id: RowId, _user: Changer) -> Response:
    try:
        with runtime_of(request).sessionmaker.begin() as session:
            groups_repo.remove_member(session, group_id=group_id, person_id=person_id)
    except StorageError as exc:
        return _group_page(request, group_id, problem_text(exc), 404)
    return done(f"/console/groups/{group_id}", "removed")


@router.post("/groups/{group_id}/delete")
async def delete_group(request: Request, group_id: RowId, _user: Changer) -> Response:
    try:
        with runtime_of(request).sessionmaker.begin() as session:
            groups_repo.delete_group(session, group_id=group_id)
    except StorageError as exc:
        return _groups_page(request, problem_text(exc), 404)
    return done("/console/groups", f"deleted group {group_id}")


# -- rules ------------------------------------------------------------------------------------------------------


def _rules_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    with runtime_of(request).sessionmaker() as session:
        rules, total = rules_repo.list_rules(session, limit=LISTED, offset=0)
        doors, _ = doors_repo.list_doors(session, limit=LISTED, offset=0)
        groups, _ = groups_repo.list_groups(session, limit=LISTED, offset=0)
        people_ids = {r.person_id for r in rules if r.person_id is not None}
        people = {p.id: p for p in (people_repo.get_person(session, person_id=i) for i in sorted(people_ids))}
        rows = [RulePublic.of(rule) for rule in rules]
    context = {
        "rules": rows,
        "total": total,
        "doors": doors,
        "door_names": {d.id: f"{d.name} ({d.timezone})" for d in doors},
        "groups": groups,
        "group_names": {g.id: g.name for g in groups},
        "people": people,
        "days": DAY_NAMES,
        "window_rows": range(WINDOW_ROWS),
        "error": error,
    }
    return render(request, "rules.html", context, status_code=status_code)


@router.get("/rules")
def rules_page(request: Request, _user: Viewer) -> Response:
    return _rules_page(request)


def _windows(form: Any) -> list[dict[str, Any]]:
    """The editor's rows with at least one day ticked, as the API's ``windows``."""
    windows = []
    for row in range(WINDOW_ROWS):
        days = [d for d in form.getlist(f"w{row}_days") if isinstance(d, str)]
        if days:
            windows.append(
                {"days": days, "start": form_text(form, f"w{row}_start"), "end": form_text(form, f"w{row}_end")}
            )
    return windows


@router.post("/rules")
async def create_rule(request: Request, _user: Changer) -> Response:
    """Grant a person (by external id) or a group a door (or every door) in weekly windows."""
    form = await request.form()
    runtime = runtime_of(request)
    try:
        with runtime.sessionmaker.begin() as session:
            external_id = form_text(form, "external_id")
            person_id = (
                people_repo.get_person_by_external_id(session, external_id=external_id).id if external_id else None
            )
            # "every door" is its own choice in the form (door_id=all), never what a missing door means.
            all_doors = form_text(form, "door_id") == "all"
            body = RuleCreate.model_validate(
                {
                    "person_id": person_id,
                    "group_id": form_id(form, "group_id"),
                    "door_id": None if all_doors else form_id(form, "door_id"),
                    "all_doors": all_doors,
                    "windows": _windows(form),
                }
            )
            rule = records.create_rule(session, body)
    except (ValidationError, StorageError) as exc:
        return _rules_page(request, problem_text(exc), 422)
    return done("/console/rules", f"added rule {rule.id}")


@router.post("/rules/{rule_id}/delete")
async def delete_rule(request: Request, rule_id: RowId, _user: Changer) -> Response:
    try:
        with runtime_of(request).sessionmaker.begin() as session:
            rules_repo.delete_rule(session, rule_id=rule_id)
    except StorageError as exc:
        return _rules_page(request, problem_text(exc), 404)
    return done("/console/rules", f"deleted rule {rule_id}")
