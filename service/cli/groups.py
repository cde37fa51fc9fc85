"""``facegate groups``: groups that rules can grant instead of each person, and their members."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import output
from service.cli.context import confirm, find_group, find_person, guarded, parse, session_scope

groups_app = typer.Typer(help="Groups of people, for rules that grant a whole group.", no_args_is_help=True)
members_app = typer.Typer(help="Who is in a group.", no_args_is_help=True)
groups_app.add_typer(members_app, name="members")

GroupArg = Annotated[str, typer.Argument(metavar="GROUP", help="The group's name or id; #3 means id 3 only.")]
PeopleArg = Annotated[list[str], typer.Argument(metavar="PERSON", help="People: external ids (badges) or numeric ids.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema) for scripts.")]


@groups_app.command("add")
@guarded
def add(name: Annotated[str, typer.Argument(metavar="NAME", help="A unique name.")], as_json: JsonOpt = False) -> None:
    """Add an empty group.

    Example: facegate groups add "night shift"
    """
    from service.core import records
    from service.schemas.rights import GroupCreate, GroupPublic

    body = parse(GroupCreate, name=name)
    with session_scope() as session:
        group = records.create_group(session, body)
        session.commit()
        public = GroupPublic.of(group)
    if as_json:
        output.echo_json(public)
    else:
        typer.echo(f"added group {public.id} {public.name!r}")


@groups_app.command("list")
@guarded
def list_(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List groups by id, with their number of members.

    Example: facegate groups list
    """
    from service.repositories import groups
    from service.schemas.rights import GroupPage, GroupPublic

    with session_scope() as session:
        found, total = groups.list_groups(session, limit=limit, offset=offset)
        items = [GroupPublic.of(g) for g in found]
        sizes = [groups.list_members(session, group_id=g.id, limit=1)[1] for g in found]
    if as_json:
        output.echo_json(GroupPage(items=items, total=total, limit=limit, offset=offset))
        return
    rows = [(g.id, g.name, size, g.created_at) for g, size in zip(items, sizes, strict=True)]
    output.echo_table(("id", "name", "members", "created"), rows)


@groups_app.command("delete")
@guarded
def delete(
    group_ref: GroupArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a group with its memberships and the rules that grant it (its members stay).

    Example: facegate groups delete "night shift" --yes
    """
    from service.repositories import groups

    with session_scope() as session:
        group = find_group(session, group_ref)
        confirm(f"Delete group {group.name!r} and the rules that grant it?", yes)
        groups.delete_group(session, group_id=group.id)
        session.commit()
    typer.echo(f"deleted group {group.id} {group.name!r}")


@members_app.command("add")
@guarded
def members_add(group_ref: GroupArg, people: PeopleArg) -> None:
    """Add people to a group (people already in it are left as they are). All or nothing.

    Example: facegate groups members add "night shift" B-1042 B-1043
    """
    from service.repositories import groups

    with session_scope() as session:
        group = find_group(session, group_ref)
        added = [
            groups.add_member(session, group_id=group.id, person_id=find_person(session, ref).id) for ref in people
        ]
        session.commit()
    typer.echo(f"group {group.name!r}: {sum(added)} added, {len(added) - sum(added)} already members")


@members_app.command("remove")
@guarded
def members_remove(group_ref: GroupArg, people: PeopleArg) -> None:
    """Remove people from a group; someone who is not a member is an error (nothing is removed then).

    Example: facegate groups members remove "night shift" B-1042
    """
    from service.repositories import groups

    with session_scope() as session:
        group = find_group(session, group_ref)
        for ref in people:
            groups.remove_member(session, group_id=group.id, person_id=find_person(session, ref).id)
        session.commit()
    typer.echo(f"group {group.name!r}: {len(people)} removed")


@members_app.command("list")
@guarded
def members_list(
    group_ref: GroupArg,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List a group's members by person id.

    Example: facegate groups members list "night shift"
    """
    from service.repositories import groups
    from service.schemas.rights import MemberPage, MemberPublic

    with session_scope() as session:
        group = find_group(session, group_ref)
        found, total = groups.list_members(session, group_id=group.id, limit=limit, offset=offset)
        items = [MemberPublic.of(p) for p in found]
    if as_json:
        output.echo_json(MemberPage(items=items, total=total, limit=limit, offset=offset))
        return
    rows = [(m.person_id, m.external_id, m.display_name, m.status.value) for m in items]
    output.echo_table(("id", "external id", "name", "status"), rows, empty=f"group {group.name!r} has no member")
