"""``facegate``: the operator's command line (Typer). It calls the same repositories and decisions as the HTTP API.

One module per command group; this one only assembles them. Every command reads the same ``FACEGATE_*``
settings as the server, prints a table (or ``--json``), and fails with one ``error: ...`` line on stderr and a
non-zero exit status (:func:`service.cli.context.guarded`). Importing this package is cheap (the modules import
torch and SQLAlchemy inside their commands), so ``--help`` and shell completion answer at once.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from service.cli.bulk import enroll_folder
from service.cli.check import check
from service.cli.doors import doors_app
from service.cli.enroll import enroll
from service.cli.groups import groups_app
from service.cli.index import index_app
from service.cli.keys import keys_app
from service.cli.log import log
from service.cli.model import model_app
from service.cli.people import people_app
from service.cli.rules import grant, revoke, rules_app
from service.cli.server import db_app, serve
from service.cli.webhooks import webhooks_app

__all__ = ["app"]

app = typer.Typer(
    name="facegate",
    help="facegate: face-recognition access control. Settings come from FACEGATE_* variables, as for the server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens (and tracebacks).")] = False,
) -> None:
    """facegate: face-recognition access control."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


app.command("serve")(serve)
app.add_typer(db_app, name="db")
app.add_typer(people_app, name="people")
app.command("enroll")(enroll)
app.command("enroll-folder")(enroll_folder)
app.add_typer(doors_app, name="doors")
app.add_typer(groups_app, name="groups")
app.command("grant")(grant)
app.command("revoke")(revoke)
app.add_typer(rules_app, name="rules")
app.add_typer(keys_app, name="keys")
app.command("log")(log)
app.add_typer(index_app, name="index")
app.command("check")(check)
app.add_typer(model_app, name="model")
app.add_typer(webhooks_app, name="webhooks")
