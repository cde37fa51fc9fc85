"""``facegate people``: add, list, show, update, suspend, resume and delete the people who may be let in.

Input goes through the HTTP API's schemas (:class:`~service.schemas.people.PersonCreate`,
:class:`~service.schemas.people.PersonUpdate`) and changes through :mod:`service.repositories.people`, so a
badge refused over HTTP is refused here for the same reason. Template counts are those of the model now serving,
as the API reports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli import output
from service.cli.context import (
    confirm,
    current_model_id,
    find_person,
    guarded,
    load_settings,
    parse,
    session_scope,
)
from service.db.models import PersonStatus
from service.schemas.people import PersonPublic, TemplatePublic

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.db.models import Person
    from service.schemas.people import PersonUpdate

people_app = typer.Typer(help="People: who may be let in, and since / until when.", no_args_is_help=True)

PersonArg = Annotated[
    str, typer.Argument(metavar="PERSON", help="External id (badge), or the numeric id; #12 means id 12 only.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema) for scripts.")]
ValidFrom = Annotated[str | None, typer.Option(help="Not let in before this instant (ISO 8601 with a zone).")]
ValidUntil = Annotated[str | None, typer.Option(help="Not let in from this instant on (ISO 8601 with a zone).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

HEADERS = ("id", "external id", "name", "status", "valid from", "valid until", "templates")


def _row(p: PersonPublic) -> tuple[object, ...]:
    return (p.id, p.external_id, p.display_name, p.status.value, p.valid_from, p.valid_until, p.templates)


def _counted(session: Session, person: Person) -> PersonPublic:
    from service.core import records

    return records.person_public(session, person, model_id=current_model_id(load_settings()))


def _print(person: PersonPublic, as_json: bool, verb: str) -> None:
    if as_json:
        output.echo_json(person)
    else:
        typer.echo(f"{verb} person {person.id} {person.external_id!r} ({person.display_name}, {person.status.value})")


@people_app.command("add")
@guarded
def add(
    external_id: Annotated[
        str, typer.Argument(metavar="EXTERNAL_ID", help="The operator's unique id, e.g. a badge number.")
    ],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The name shown in listings and the log.")],
    valid_from: ValidFrom = None,
    valid_until: ValidUntil = None,
    suspended: Annotated[bool, typer.Option(help="Add them suspended (denied everywhere until resumed).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a person (no face yet: enrol images next with `facegate enroll`).

    Example: facegate people add B-1042 "Ada Lovelace" --valid-until 2026-01-01T00:00:00+01:00
    """
    from service.core import records
    from service.schemas.people import PersonCreate

    status = PersonStatus.SUSPENDED if suspended else PersonStatus.ACTIVE
    body = parse(
        PersonCreate,
        external_id=external_id,
        display_name=name,
        status=status,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    with session_scope() as session:
        person = records.create_person(session, body)
        session.commit()
        _print(PersonPublic.of(person, 0), as_json, "added")


@people_app.command("list")
@guarded
def list_(
    status: Annotated[PersonStatus | None, typer.Option(help="Only active or only suspended people.")] = None,
    search: Annotated[str | None, typer.Option(help="Part of the external id or of the name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List people by id, with their number of face templates for the model now serving.

    Example: facegate people list --search lovelace --status active
    """
    from service.core import records

    settings = load_settings()
    model_id = current_model_id(settings)
    with session_scope(settings) as session:
        page = records.people_page(session, model_id=model_id, status=status, search=search, limit=limit, offset=offset)
    if as_json:
        output.echo_json(page)
        return
    items, total = page.items, page.total
    output.echo_table(HEADERS, [_row(p) for p in items], empty="no people")
    if total > offset + len(items):
        typer.echo(f"({len(items)} of {total}: --offset {offset + len(items)} for more)")


@people_app.command("show")
@guarded
def show(person_ref: PersonArg, as_json: JsonOpt = False) -> None:
    """Show a person, their face templates (every model) and their groups.

    Example: facegate people show B-1042
    """
    from service.repositories import groups as groups_repo
    from service.repositories import templates as templates_repo
    from service.schemas.rights import GroupPublic

    with session_scope() as session:
        person = _counted(session, find_person(session, person_ref))
        templates = [TemplatePublic.of(t) for t in templates_repo.list_templates(session, person_id=person.id)]
        group_ids = groups_repo.group_ids_of(session, person_id=person.id)
        member_of = [groups_repo.get_group(session, group_id=gid) for gid in sorted(group_ids)]
        groups = [GroupPublic.of(g) for g in member_of]
    if as_json:
        output.echo_json({"person": person, "templates": templates, "groups": groups})
        return
    output.echo_pairs(
        [
            ("id", person.id),
            ("external id", person.external_id),
            ("name", person.display_name),
            ("status", person.status.value),
            ("valid from", person.valid_from),
            ("valid until", person.valid_until),
            ("created", person.created_at),
            ("templates", f"{person.templates} for the serving model, {len(templates)} in all"),
            ("groups", ", ".join(g.name for g in groups) or None),
        ]
    )
    if templates:
        typer.echo("")
        output.echo_table(
            ("template", "model", "interocular px", "det score", "blur", "yaw", "crop kept", "created"),
            [(t.id, t.model_id, *_figures(t), t.has_crop, t.created_at) for t in templates],
        )


def _figures(template: TemplatePublic) -> tuple[float, float, float, float]:
    quality = template.quality
    return quality.interocular_px, quality.det_score, quality.blur, quality.yaw


@people_app.command("update")
@guarded
def update(
    person_ref: PersonArg,
    name: Annotated[str | None, typer.Option(help="A new display name.")] = None,
    valid_from: Annotated[
        str | None, typer.Option(help="Not let in before this instant (ISO 8601 with a zone); 'none' clears it.")
    ] = None,
    valid_until: Annotated[
        str | None, typer.Option(help="Not let in from this instant on (ISO 8601 with a zone); 'none' clears it.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a person's name or validity period; what is not given stays as it is.

    Example: facegate people update B-1042 --valid-until 2026-06-30T18:00:00+02:00 --valid-from none
    """
    from service.schemas.people import PersonUpdate

    values: dict[str, Any] = {}
    if name is not None:
        values["display_name"] = name
    for field, text in (("valid_from", valid_from), ("valid_until", valid_until)):
        if text is not None:
            values[field] = None if text.strip().lower() == "none" else text
    _change(person_ref, as_json, "updated", parse(PersonUpdate, **values))


@people_app.command("suspend")
@guarded
def suspend(person_ref: PersonArg, as_json: JsonOpt = False) -> None:
    """Suspend a person: denied at every door (person_suspended) until resumed; their faces and rules stay.

    Example: facegate people suspend B-1042
    """
    from service.schemas.people import PersonUpdate

    _change(person_ref, as_json, "suspended", PersonUpdate(status=PersonStatus.SUSPENDED))


@people_app.command("resume")
@guarded
def resume(person_ref: PersonArg, as_json: JsonOpt = False) -> None:
    """Make a suspended person active again.

    Example: facegate people resume B-1042
    """
    from service.schemas.people import PersonUpdate

    _change(person_ref, as_json, "resumed", PersonUpdate(status=PersonStatus.ACTIVE))


def _change(person_ref: str, as_json: bool, verb: str, changes: PersonUpdate) -> None:
    from service.core import records

    with session_scope() as session:
        person = find_person(session, person_ref)
        person = records.update_person(session, person.id, changes)
        session.commit()
        _print(_counted(session, person), as_json, verb)


@people_app.command("delete")
@guarded
def delete(person_ref: PersonArg, yes: YesOpt = False) -> None:
    """Delete a person with their face templates (and kept crops), memberships and rules.

    The access log keeps their external id. Running servers drop their faces within a second (they follow the
    template revision in SQL).

    Example: facegate people delete B-1042 --yes
    """
    from service.repositories import people

    with session_scope() as session:
        person = find_person(session, person_ref)
        confirm(f"Delete person {person.external_id!r} ({person.display_name}) and their face data?", yes)
        template_ids, revision = people.delete_person(session, person_id=person.id)
        session.commit()
    typer.echo(
        f"deleted person {person.id} {person.external_id!r} and {len(template_ids)} templates (revision {revision})"
    )
