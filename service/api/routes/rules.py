"""Access rules: grant a person or a group a door (or every door), on a weekly schedule, for a period.
Create, list (filtered), show, delete: a rule is never edited in place, a changed right is a new rule.
Admin keys only.

HTTP only: the checks and their codes live in :mod:`service.repositories.rules`; writes commit here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from service.api.auth import AdminKey
from service.api.deps import SessionDep
from service.api.errors import problem_responses
from service.core import records
from service.repositories import rules as rules_repo
from service.schemas.params import Digits
from service.schemas.rights import MAX_ID, RuleCreate, RulePage, RulePublic

router = APIRouter(prefix="/v1/rules", tags=["rules"])

RuleId = Annotated[Digits, Path(gt=0, le=MAX_ID, description="The rule's id.")]
Limit = Annotated[Digits, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[Digits, Query(ge=0, le=MAX_ID, description="Items to skip.")]
_AUTH = (401, 403, 429)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add an access rule",
    responses=problem_responses(*_AUTH, 404, 422),
)
def create_rule(body: RuleCreate, session: SessionDep, _key: AdminKey) -> RulePublic:
    """Grant a person or a group (exactly one) a door (``door_id``), or every door (``all_doors: true``).
    A rule that names neither, or both, is 422 ``rule_door``: every door is never implied.

    ``windows`` are read in each door's local time; without windows the rule grants at any time of its
    validity period. 422 ``rule_subject`` (not exactly one of person_id, group_id), ``validity_invalid``
    (valid_until not after valid_from), ``window_invalid`` (start equal to end); 404 ``person_not_found``,
    ``group_not_found``, ``door_not_found``.
    """
    rule = records.create_rule(session, body)
    session.commit()
    return RulePublic.of(rule)


@router.get("", summary="List access rules", responses=problem_responses(*_AUTH, 422))
def list_rules(
    session: SessionDep,
    _key: AdminKey,
    person_id: Annotated[Digits | None, Query(gt=0, le=MAX_ID, description="Rules naming this person.")] = None,
    group_id: Annotated[Digits | None, Query(gt=0, le=MAX_ID, description="Rules naming this group.")] = None,
    door_id: Annotated[Digits | None, Query(gt=0, le=MAX_ID, description="Rules naming this door.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> RulePage:
    """Rules by id, a page at a time; the filters that are given must all match.

    The filters match what the rule names: ``person_id`` does not list the rules a person gets through
    their groups, and ``door_id`` does not list the rules for every door.
    """
    rules, total = rules_repo.list_rules(
        session, person_id=person_id, group_id=group_id, door_id=door_id, limit=limit, offset=offset
    )
    return RulePage(items=[RulePublic.of(rule) for rule in rules], total=total, limit=limit, offset=offset)


@router.get("/{rule_id}", summary="Show an access rule", responses=problem_responses(*_AUTH, 404, 422))
def get_rule(rule_id: RuleId, session: SessionDep, _key: AdminKey) -> RulePublic:
    """The rule with its windows; 404 ``rule_not_found`` when there is none with this id."""
    return RulePublic.of(rules_repo.get_rule(session, rule_id=rule_id))


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an access rule",
    responses=problem_responses(*_AUTH, 404, 422),
)
def delete_rule(rule_id: RuleId, session: SessionDep, _key: AdminKey) -> Response:
    """Delete the rule: the next access check no longer counts it."""
    rules_repo.delete_rule(session, rule_id=rule_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
