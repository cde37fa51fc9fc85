"""``facegate serve`` and ``facegate db upgrade``: run the API, migrate the schema."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.context import guarded, load_settings

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


@guarded
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default FACEGATE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default FACEGATE_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="uvicorn worker processes (default FACEGATE_WORKERS).")
    ] = None,
) -> None:
    """Run the API server, every setting from FACEGATE_*: wait for the database (FACEGATE_DB_WAIT_S), migrate it
    once unless FACEGATE_MIGRATE_ON_START=false, store the operator's first admin key, then start the workers.

    Example: facegate serve --host 0.0.0.0 --port 8000 --workers 2
    """
    settings = load_settings()  # refused before the start's heavier imports
    from service.startup import serve as start

    start(settings, host=host, port=port, workers=workers)


@db_app.command("upgrade")
@guarded
def db_upgrade(
    wait: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds to wait for the database server first (default FACEGATE_DB_WAIT_S)."),
    ] = None,
) -> None:
    """Create or migrate the database (FACEGATE_DATABASE_URL) to the newest schema, as FACEGATE_DATABASE_OWNER_URL
    when set (then the app's role is granted what it needs: the access log only SELECT and INSERT), then store the
    operator's first admin key (FACEGATE_ADMIN_KEY or _FILE) once: running it again changes nothing. The only
    command that creates a database.

    Example: facegate db upgrade --wait 30
    """
    settings = load_settings()
    from service.startup import prepare_database

    prepare_database(settings, wait_s=wait, migrate=True)
    typer.echo("database is at the newest schema")


@db_app.command("info")
@guarded
def db_info(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of lines.")] = False,
) -> None:
    """Say which database the commands use (FACEGATE_DATABASE_URL, default sqlite:///./var/facegate.db relative
    to the working folder), whether it exists and its schema revision. Creates nothing; exit 4 when it is missing
    or not at the newest schema, as every other command then does.

    Example: facegate db info
    """
    import os

    from service.cli.context import EXIT_NO_DATABASE
    from service.db.presence import inspect_database

    settings = load_settings()
    state = inspect_database(settings.database_url)
    report = {
        "url": state.shown,
        "from": "FACEGATE_DATABASE_URL" if os.environ.get("FACEGATE_DATABASE_URL") else "default",
        "file": str(state.file) if state.file else None,
        "exists": state.exists,
        "revision": state.revision,
        "head": state.head,
        "current": state.current,
    }
    if as_json:
        from service.cli import output

        output.echo_json(report)
    else:
        for key, value in report.items():
            typer.echo(f"{key + ':':10}{'—' if value is None else value}")
    if not state.current:
        raise typer.Exit(EXIT_NO_DATABASE)
