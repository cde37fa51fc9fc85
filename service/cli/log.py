"""``facegate log``: the access decisions, newest first, filtered, as a table, CSV or JSON.

The query is :func:`service.repositories.access_log.query_log`, the one behind ``GET /v1/access/log``; instants
are parsed by the same pydantic type (a zone is required: "08:00" alone would be guessed).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli import output
from service.cli.context import find_door, find_person, guarded, parse, session_scope
from service.db.models import Decision

if TYPE_CHECKING:
    from datetime import datetime

COLUMNS = (
    "id",
    "ts",
    "decision",
    "reason",
    "door_id",
    "door_name",
    "person_id",
    "person_external_id",
    "score",
    "margin",
    "threshold",
    "gallery_size",
    "latency_ms",
    "key_id",
    "model_id",
    "quality",
)


class Format(enum.StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def instant(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 instant with a zone, checked as the API checks its query parameters."""
    if text is None:
        return None
    from pydantic import AwareDatetime, TypeAdapter, ValidationError

    from service.cli.context import CliError

    try:
        return TypeAdapter(AwareDatetime).validate_python(text)
    except ValidationError as exc:
        message = exc.errors(include_input=False, include_url=False)[0]["msg"]
        raise CliError(f"{option}: {message} (e.g. 2025-06-01T08:00:00+02:00)") from exc


@guarded
def log(
    since: Annotated[str | None, typer.Option(help="From this instant, inclusive (ISO 8601 with a zone).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this instant (ISO 8601 with a zone).")] = None,
    door: Annotated[str | None, typer.Option(help="Only this door (name or id).")] = None,
    person: Annotated[str | None, typer.Option(help="Only this person (external id or id).")] = None,
    decision: Annotated[Decision | None, typer.Option(help="Only granted or only denied.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code, e.g. unknown_face.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many entries.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many first.")] = 0,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.TABLE,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Show the access log: every decision with its reason, newest first.

    Example: facegate log --since 2025-06-01T00:00:00+02:00 --door "main entrance" --decision denied --format csv
    """
    from service.repositories.access_log import query_log
    from service.schemas.admin import LogEntryPublic, LogExport, LogPage

    start, stop = instant(since, "--since"), instant(until, "--until")
    with session_scope() as session:
        query = parse(
            LogExport,
            since=start,
            until=stop,
            door_id=find_door(session, door).id if door is not None else None,
            person_id=find_person(session, person).id if person is not None else None,
            decision=decision,
            reason=reason,
            limit=limit,
            offset=offset,
        )
        entries, total = query_log(session, query)
        items = [LogEntryPublic.of(entry) for entry in entries]
    if as_json or fmt is Format.JSON:
        output.echo_json(LogPage(items=items, total=total, limit=limit, offset=offset))
    elif fmt is Format.CSV:
        typer.echo(output.csv_text(COLUMNS, [[getattr(e, column) for column in COLUMNS] for e in items]), nl=False)
    else:
        rows = [
            (e.id, e.ts, e.decision.value, e.reason, e.door_name, e.person_external_id, e.score, e.latency_ms)
            for e in items
        ]
        headers = ("id", "time", "decision", "reason", "door", "person", "score", "ms")
        output.echo_table(headers, rows, empty="no entries")
        if total > offset + len(items):
            typer.echo(f"({len(items)} of {total}: --offset {offset + len(items)} for more)")
