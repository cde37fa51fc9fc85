"""``facegate webhooks``: subscriptions (add, list, pause/resume, delete) and their events (list, re-send),
and ``deliver``: the sender's pass run from the command line (when the server runs without its own sender,
or to flush the outbox by hand)."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import output
from service.cli.context import confirm, database, find_door, guarded, load_settings, parse, session_scope
from service.db.models import EventStatus

webhooks_app = typer.Typer(help="Decision events: webhook subscriptions and their outbox.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema) for scripts.")]


@webhooks_app.command("add")
@guarded
def add(
    url: Annotated[str, typer.Argument(help="http:// or https:// URL the events are posted to.")],
    secret: Annotated[str | None, typer.Option(help="Signing secret (16+ characters); default: a random one.")] = None,
    door: Annotated[list[str] | None, typer.Option("--door", help="Only this door, by name or id (repeat).")] = None,
    decision: Annotated[
        list[str] | None, typer.Option("--decision", help="Only 'granted' or 'denied' (repeat); default: both.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Subscribe a URL to decision events; the signing secret is printed once.

    Example: facegate webhooks add https://lock.example/events --door "main entrance" --decision granted
    """
    from service.core import records
    from service.schemas.webhooks import WebhookCreate, WebhookCreated

    with session_scope() as session:
        door_ids = [find_door(session, ref).id for ref in door] if door else None
        body = parse(WebhookCreate, url=url, secret=secret, door_ids=door_ids, decisions=decision or None)
        row = records.create_webhook(session, body)
        session.commit()
        created = WebhookCreated.of(row)
    if as_json:
        output.echo_json(created)
        return
    typer.echo(created.secret)
    typer.echo(f"added webhook {created.id} → {created.url}; the secret above is shown once", err=True)


@webhooks_app.command("list")
@guarded
def list_(as_json: JsonOpt = False) -> None:
    """List subscriptions (secrets are never shown again).

    Example: facegate webhooks list --json
    """
    from service.repositories import webhooks
    from service.schemas.webhooks import WebhookPublic

    with session_scope() as session:
        items = [WebhookPublic.of(row) for row in webhooks.list_subscriptions(session)]
    if as_json:
        output.echo_json(items)
        return
    output.echo_table(
        ("id", "url", "doors", "decisions", "active"),
        [(w.id, w.url, w.door_ids or "all", w.decisions or "all", w.active) for w in items],
    )


@webhooks_app.command("pause")
@guarded
def pause(subscription_id: int, resume: Annotated[bool, typer.Option(help="Resume instead.")] = False) -> None:
    """Pause a subscription (no new events for it) or resume it with --resume.

    Example: facegate webhooks pause 1 --resume
    """
    from service.repositories import webhooks

    with session_scope() as session:
        webhooks.set_active(session, subscription_id=subscription_id, active=resume)
        session.commit()
    typer.echo(f"webhook {subscription_id} {'resumed' if resume else 'paused'}")


@webhooks_app.command("delete")
@guarded
def delete(
    subscription_id: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a subscription and its events.

    Example: facegate webhooks delete 1 --yes
    """
    from service.repositories import webhooks

    with session_scope() as session:
        row = webhooks.get_subscription(session, subscription_id=subscription_id)
        confirm(f"Delete webhook {row.id} ({row.url}) and its undelivered events?", yes)
        webhooks.delete_subscription(session, subscription_id=subscription_id)
        session.commit()
    typer.echo(f"deleted webhook {subscription_id}")


@webhooks_app.command("events")
@guarded
def events(
    status: Annotated[EventStatus | None, typer.Option(help="Only pending, delivered or dead events.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List outbox events, newest first, with their attempts and last error.

    Example: facegate webhooks events --status dead
    """
    from service.repositories import webhooks
    from service.schemas.webhooks import WebhookEventPage, WebhookEventPublic

    with session_scope() as session:
        rows, total = webhooks.list_events(session, status=status, limit=limit)
        items = [WebhookEventPublic.of(row) for row in rows]
    if as_json:
        output.echo_json(WebhookEventPage(items=items, total=total, limit=limit, offset=0))
        return
    output.echo_table(
        ("id", "webhook", "log", "status", "attempts", "next attempt", "last error"),
        [
            (e.id, e.subscription_id, e.log_id, e.status.value, e.attempts, e.next_attempt_at, e.last_error)
            for e in items
        ],
    )


@webhooks_app.command("resend")
@guarded
def resend(event_id: int) -> None:
    """Make an event (dead or delivered) due again now; the server's sender or `deliver` sends it.

    Example: facegate webhooks resend 42
    """
    from service.repositories import webhooks

    with session_scope() as session:
        webhooks.resend(session, event_id=event_id)
        session.commit()
    typer.echo(f"event {event_id} is due again")


@webhooks_app.command("deliver")
@guarded
def deliver(
    until_empty: Annotated[bool, typer.Option(help="Repeat passes until no event is due.")] = True,
) -> None:
    """Send the due events now (one pass, or until none is due), as the server's sender does.

    Example: facegate webhooks deliver
    """
    from service.delivery import BATCH, deliver_due
    from service.runtime import delivery_config

    settings = load_settings()
    attempted = 0
    with database(settings) as factory:
        while True:
            count = deliver_due(factory, delivery_config(settings))
            attempted += count
            if not until_empty or count < BATCH:
                break
    typer.echo(f"attempted {attempted} event(s)")
