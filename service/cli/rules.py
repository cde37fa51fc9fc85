"""``facegate grant``, ``facegate revoke`` and ``facegate rules list``: who may pass which door, and when.

A grant is the HTTP API's :class:`~service.schemas.rights.RuleCreate` built from options (day names and
HH:MM clocks, converted by :meth:`~service.schemas.rights.WeeklyWindow.per_day`), stored by
:func:`service.repositories.rules.create_rule`, which owns every check (``validity_invalid``, ``window_invalid``).
Rules are never edited: a changed right is a new grant and a revoke of the old rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli import output
from service.cli.context import CliError, confirm, find_door, find_group, find_person, guarded, parse, session_scope
from service.schemas.rights import RulePublic

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

rules_app = typer.Typer(help="Access rules (add them with `facegate grant`).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema) for scripts.")]


def expand_days(text: str) -> list[str]:
    """``mon-fri,sun`` → ``["mon", "tue", "wed", "thu", "fri", "sun"]``. A range may wrap (``fri-mon``). A name
    that is not a day is passed on as it is, for the schema to refuse with its own message."""
    from service.schemas.rights import DAY_NAMES

    days: list[str] = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        first, sep, last = part.partition("-")
        if sep and first in DAY_NAMES and last in DAY_NAMES:
            start, end = DAY_NAMES.index(first), DAY_NAMES.index(last)
            days += [DAY_NAMES[(start + i) % 7] for i in range((end - start) % 7 + 1)]
        else:
            days.append(part)
    return list(dict.fromkeys(days))


def compact_days(days: Sequence[str]) -> str:
    """Week-ordered day names with runs of three or more shown as ranges: ``mon-fri,sun`` (for reading)."""
    from service.schemas.rights import DAY_NAMES

    indices = sorted(DAY_NAMES.index(day) for day in days)
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts = [
        f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}" if len(run) >= 3 else ",".join(DAY_NAMES[i] for i in run)
        for run in runs
    ]
    return ",".join(parts)


def _windows(days: str | None, start: str | None, end: str | None) -> list[dict[str, Any]]:
    if days is None and start is None and end is None:
        return []
    if (start is None) != (end is None):
        raise CliError("give both --from and --to (or neither, for the whole day)")
    return [
        {
            "days": expand_days(days) if days is not None else ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": start if start is not None else "00:00",
            "end": end if end is not None else "24:00",
        }
    ]


def describe(session: Session, rule: RulePublic) -> tuple[str, str, str]:
    """(who, where, when) of a rule, in words."""
    from service.db.models import Door, Group, Person

    if rule.person_id is not None:
        person = session.get(Person, rule.person_id)
        who = f"person {person.external_id}" if person else f"person #{rule.person_id}"
    else:
        group = session.get(Group, rule.group_id)
        who = f"group {group.name}" if group else f"group #{rule.group_id}"
    door = session.get(Door, rule.door_id) if rule.door_id is not None else None
    where = "every door" if rule.door_id is None else f"{door.name} ({door.timezone})" if door else f"#{rule.door_id}"
    when = "; ".join(f"{compact_days(w.days)} {w.start}-{w.end}" for w in rule.windows) or "any time"
    return who, where, when


@guarded
def grant(
    person: Annotated[str | None, typer.Option(help="The person granted (external id or id).")] = None,
    group: Annotated[str | None, typer.Option(help="The group granted (name or id).")] = None,
    door: Annotated[str | None, typer.Option(help="The door (name or id).")] = None,
    all_doors: Annotated[bool, typer.Option("--all-doors", help="Every door, present and future.")] = False,
    days: Annotated[
        str | None, typer.Option(help="Days the window starts on: mon,tue,... or ranges (mon-fri). Default: all.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Local start time HH:MM (in the door's time zone).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Local end time HH:MM, exclusive; before --from runs past midnight.")
    ] = None,
    valid_from: Annotated[str | None, typer.Option(help="From this instant (ISO 8601 with a zone).")] = None,
    valid_until: Annotated[
        str | None, typer.Option(help="Until this instant, exclusive (ISO 8601 with a zone).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grant a person or a group a door (or every door), on a weekly schedule, for a period.

    Without --days/--from/--to the rule grants at any time of its validity period. Times are read in each
    door's own time zone.

    Example: facegate grant --group "night shift" --door "main entrance" --days mon-fri --from 22:00 --to 06:00
    """
    from service.core import records
    from service.schemas.rights import RuleCreate

    if (person is None) == (group is None):
        raise CliError("give exactly one of --person and --group")
    if (door is None) == (not all_doors):
        raise CliError("give exactly one of --door and --all-doors")
    windows = _windows(days, start, end)
    with session_scope() as session:
        values: dict[str, Any] = {
            "person_id": find_person(session, person).id if person is not None else None,
            "group_id": find_group(session, group).id if group is not None else None,
            "door_id": find_door(session, door).id if door is not None else None,
            "all_doors": all_doors,
        }
        body = parse(RuleCreate, **values, valid_from=valid_from, valid_until=valid_until, windows=windows)
        rule = records.create_rule(session, body)
        session.commit()
        public = RulePublic.of(rule)
        who, where, when = describe(session, public)
    if as_json:
        output.echo_json(public)
    else:
        typer.echo(f"rule {public.id}: {who} may pass {where}, {when}")


@guarded
def revoke(
    rule_id: Annotated[
        int, typer.Argument(min=1, metavar="RULE_ID", help="The rule's id (see `facegate rules list`).")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an access rule: the next access check no longer counts it.

    Example: facegate revoke 12 --yes
    """
    from service.repositories import rules

    with session_scope() as session:
        who, where, when = describe(session, RulePublic.of(rules.get_rule(session, rule_id=rule_id)))
        confirm(f"Revoke rule {rule_id} ({who} at {where}, {when})?", yes)
        rules.delete_rule(session, rule_id=rule_id)
        session.commit()
    typer.echo(f"revoked rule {rule_id}: {who} at {where}")


@rules_app.command("list")
@guarded
def list_(
    person: Annotated[str | None, typer.Option(help="Rules naming this person (not their groups').")] = None,
    group: Annotated[str | None, typer.Option(help="Rules naming this group.")] = None,
    door: Annotated[str | None, typer.Option(help="Rules naming this door (not the all-doors ones).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List access rules by id; the filters given must all match.

    Example: facegate rules list --door "main entrance"
    """
    from service.repositories import rules
    from service.schemas.rights import RulePage

    with session_scope() as session:
        found, total = rules.list_rules(
            session,
            person_id=find_person(session, person).id if person is not None else None,
            group_id=find_group(session, group).id if group is not None else None,
            door_id=find_door(session, door).id if door is not None else None,
            limit=limit,
            offset=offset,
        )
        items = [RulePublic.of(rule) for rule in found]
        rows = [(r.id, *describe(session, r), r.valid_from, r.valid_until) for r in items]
    if as_json:
        output.echo_json(RulePage(items=items, total=total, limit=limit, offset=offset))
        return
    output.echo_table(("id", "who", "door", "when", "valid from", "valid until"), rows, empty="no rules")
