"""``facegate doors``: add, list and delete doors (a name and the time zone their schedules are read in)."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import output
from service.cli.context import confirm, find_door, guarded, parse, session_scope

doors_app = typer.Typer(help="Doors and their time zones.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema) for scripts.")]


@doors_app.command("add")
@guarded
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A unique name, e.g. 'main entrance'.")],
    timezone: Annotated[
        str, typer.Option("--timezone", "--tz", help="IANA time zone the door's schedules are read in.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Add a door. Its rules' weekly windows are read in its time zone (daylight saving included).

    Example: facegate doors add "main entrance" --timezone Europe/Paris
    """
    from service.core import records
    from service.schemas.rights import DoorCreate, DoorPublic

    body = parse(DoorCreate, name=name, timezone=timezone)
    with session_scope() as session:
        door = records.create_door(session, body)
        session.commit()
        public = DoorPublic.of(door)
    if as_json:
        output.echo_json(public)
    else:
        typer.echo(f"added door {public.id} {public.name!r} ({public.timezone})")


@doors_app.command("list")
@guarded
def list_(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List doors by id.

    Example: facegate doors list --json
    """
    from service.repositories import doors
    from service.schemas.rights import DoorPage, DoorPublic

    with session_scope() as session:
        found, total = doors.list_doors(session, limit=limit, offset=offset)
        items = [DoorPublic.of(door) for door in found]
    if as_json:
        output.echo_json(DoorPage(items=items, total=total, limit=limit, offset=offset))
        return
    output.echo_table(("id", "name", "time zone", "created"), [(d.id, d.name, d.timezone, d.created_at) for d in items])


@doors_app.command("delete")
@guarded
def delete(
    door_ref: Annotated[str, typer.Argument(metavar="DOOR", help="The door's name or id; #3 means id 3 only.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a door with its rules and its terminal-key bindings; its log entries keep its name.

    Example: facegate doors delete "main entrance" --yes
    """
    from service.repositories import doors

    with session_scope() as session:
        door = find_door(session, door_ref)
        confirm(f"Delete door {door.name!r} and every rule for it?", yes)
        doors.delete_door(session, door_id=door.id)
        session.commit()
    typer.echo(f"deleted door {door.id} {door.name!r}")
