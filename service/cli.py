"""``facegate``: the operator's command line (Typer). It calls the same repositories and decisions as the API.

This module holds the minimal set the service needs to be deployable: ``serve``, ``db upgrade`` and
``keys create``. Every command reads the same ``FACEGATE_*`` settings as the server.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from service.config import Settings
from service.db.models import KeyRole
from service.db.session import create_db_engine, make_sessionmaker
from service.repositories.errors import StorageError

app = typer.Typer(name="facegate", help="facegate: face-recognition access control.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default FACEGATE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default FACEGATE_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Run the API server.

    Example: facegate serve --host 0.0.0.0 --port 8000 --workers 2
    """
    import uvicorn

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port if port is not None else settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


@db_app.command("upgrade")
def db_upgrade(
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the database server first.")] = 0.0,
) -> None:
    """Migrate the database (FACEGATE_DATABASE_URL) to the newest schema.

    Example: facegate db upgrade --wait 30
    """
    from service.db.migrate import DatabaseUnavailableError, upgrade, wait_for_database

    settings = Settings()
    try:
        if wait > 0:
            wait_for_database(settings.database_url, wait)
        upgrade(settings.database_url)
    except DatabaseUnavailableError as exc:
        raise _fail(str(exc)) from exc
    typer.echo("database is at the newest schema")


@keys_app.command("create")
def keys_create(
    role: Annotated[KeyRole, typer.Option(help="admin, terminal or auditor.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    door: Annotated[list[int] | None, typer.Option("--door", help="A door id a terminal key may use (repeat).")] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored).

    Example: facegate keys create --role admin --name "first admin"
    """
    settings = Settings()
    engine = create_db_engine(settings.database_url)
    try:
        from service.repositories.keys import create_key

        with make_sessionmaker(engine).begin() as session:
            key, token = create_key(session, name=name or f"{role.value} key", role=role, door_ids=door or [])
            prefix = key.prefix
    except StorageError as exc:
        raise _fail(str(exc)) from exc
    finally:
        engine.dispose()
    typer.echo(f"created {role.value} key {prefix}; store it now, it is not shown again:", err=True)
    typer.echo(token)
