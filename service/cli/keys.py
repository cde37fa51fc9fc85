"""``facegate keys``: create (the secret is printed once), list and revoke API keys.

The secret goes alone on stdout (``TOKEN=$(facegate keys create ...)`` works) and the note about it on stderr;
only its hash is stored. Revocation follows the API's rule: the last active admin key cannot be revoked.
"""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import output
from service.cli.context import confirm, find_door, guarded, parse, session_scope
from service.db.models import KeyRole

keys_app = typer.Typer(help="API keys (admin, terminal, auditor).", no_args_is_help=True)


@keys_app.command("create")
@guarded
def create(
    role: Annotated[KeyRole, typer.Option(help="admin, terminal or auditor.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    door: Annotated[
        list[str] | None, typer.Option("--door", help="A door a terminal key may use, by name or id (repeat).")
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored).

    Example: facegate keys create --role terminal --name "front door" --door "main entrance"
    """
    from service.core import records
    from service.schemas.admin import KeyCreate

    with session_scope() as session:
        door_ids = [find_door(session, ref).id for ref in door or []]
        body = parse(KeyCreate, name=name or f"{role.value} key", role=role, door_ids=door_ids)
        key, token = records.create_key(session, body)
        session.commit()
        prefix = key.prefix
    typer.echo(f"created {role.value} key {prefix}; store it now, it is not shown again:", err=True)
    typer.echo(token)


@keys_app.command("list")
@guarded
def list_(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's schema).")] = False,
) -> None:
    """List API keys (their public prefix, never the secret).

    Example: facegate keys list --all
    """
    from service.core import records
    from service.repositories.keys import list_keys

    with session_scope() as session:
        items = [records.key_public(session, key) for key in list_keys(session, include_revoked=include_revoked)]
    if as_json:
        output.echo_json(items)
        return
    rows = [
        (k.id, k.prefix, k.role.value, k.name, ",".join(map(str, k.door_ids)) or None, k.created_at, k.revoked_at)
        for k in items
    ]
    output.echo_table(("id", "prefix", "role", "name", "doors", "created", "revoked"), rows, empty="no keys")


@keys_app.command("revoke")
@guarded
def revoke(
    key_ref: Annotated[str, typer.Argument(metavar="KEY", help="The key's id or its prefix (fg_xxxxxxxx).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Revoke an API key: it stops working at once, on every replica. The last admin key cannot be revoked.

    Example: facegate keys revoke fg_1a2b3c4d --yes
    """
    from service.repositories import keys
    from service.repositories.errors import NotFoundError

    with session_scope() as session:
        if key_ref.isdigit():
            key = keys.get_key(session, key_id=int(key_ref))
        else:
            found = [k for k in keys.list_keys(session, include_revoked=True) if k.prefix == key_ref]
            if not found:
                raise NotFoundError("key", key_ref)
            key = found[0]
        confirm(f"Revoke {key.role.value} key {key.prefix} ({key.name})?", yes)
        keys.revoke_key(session, key_id=key.id)
        session.commit()
    typer.echo(f"revoked key {key.id} {key.prefix}")
