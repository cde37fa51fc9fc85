"""``facegate index status|rebuild``: the vector index file, a cache of the SQL templates.

``status`` reads the file and SQL side by side and writes nothing; whether the file is current is the server's own
test (:func:`service.index.freshness.staleness`). ``rebuild`` throws the file away and
lets :class:`~service.index.sync.IndexSync` build it from SQL, as a server start does with a stale file: there is
one way to build an index. Neither needs the face model's detector; the model id and the embedding size come from
the package.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from service.cli import output
from service.cli.context import CliError, confirm, database, guarded, load_settings

index_app = typer.Typer(help="The vector index file (a cache of the templates in SQL).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@index_app.command("status")
@guarded
def status(as_json: JsonOpt = False) -> None:
    """Compare the index file with SQL: model, kind, template revision, number of templates.

    A stale file is harmless: a server rebuilds it at start.

    Example: facegate index status
    """
    from models.package import load_package
    from service.db.revision import current_template_revision
    from service.index.freshness import staleness
    from service.index.storage import read_index_file
    from service.index.types import IndexFileError, IndexStamp
    from service.repositories.templates import template_people

    settings = load_settings()
    package = load_package(settings.model_path, network=False)  # the ids and tables only: no torch
    with database(settings) as factory, factory() as session:
        revision = current_template_revision(session)
        in_sql = template_people(session, model_id=package.model_id)
    report: dict[str, Any] = {
        "path": str(settings.index_path) if settings.index_path else None,
        "model_id": package.model_id,
        "kind": settings.index_kind,
        "sql_revision": revision,
        "sql_templates": len(in_sql),
        "file": None,
        "current": False,
        "problem": None,
    }
    if settings.index_path is None:
        report["problem"] = "FACEGATE_INDEX_PATH is empty: servers keep the index in memory only"
    else:
        try:
            snapshot = read_index_file(settings.index_path)
        except IndexFileError as exc:
            report["problem"] = str(exc)
        else:
            stamp = snapshot.stamp
            report["file"] = {
                "model_id": stamp.model_id,
                "kind": stamp.kind,
                "dim": stamp.dim,
                "revision": stamp.revision,
                "templates": len(snapshot.template_ids),
            }
            # The server's own test of a file (IndexSync.start loads a current file and rebuilds a stale one).
            expected = IndexStamp(package.model_id, revision, package.config.embedding_size, settings.index_kind)
            in_file = dict(zip(snapshot.template_ids.tolist(), snapshot.person_ids.tolist(), strict=True))
            stale = staleness(stamp, in_file, expected, in_sql)
            report["current"] = stale is None
            if stale is not None:
                report["problem"] = f"{stale.reason}: {stale.detail}"
    if as_json:
        output.echo_json(report)
        return
    file = report["file"] or {}
    output.echo_pairs(
        [
            ("index file", report["path"]),
            ("model", package.model_id),
            ("kind", settings.index_kind),
            ("SQL", f"revision {revision}, {len(in_sql)} templates of this model"),
            ("file", f"revision {file['revision']}, {file['templates']} templates" if file else None),
            ("current", report["current"]),
            ("problem", report["problem"]),
        ]
    )


@index_app.command("rebuild")
@guarded
def rebuild(yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False) -> None:
    """Rebuild the index file from SQL (servers load it at their next start; running ones keep following SQL).

    Rarely needed: a server rebuilds a stale or corrupt file by itself.

    Example: facegate index rebuild --yes
    """
    from models.package import load_package
    from service.index.sync import IndexSync
    from service.index.vectors import IndexConfig

    settings = load_settings()
    if settings.index_path is None:
        raise CliError("FACEGATE_INDEX_PATH is empty: there is no index file to rebuild")
    confirm(f"Rebuild {settings.index_path} from SQL?", yes)
    package = load_package(settings.model_path, network=False)  # the ids and tables only: no torch
    with database(settings) as factory:
        settings.index_path.unlink(missing_ok=True)
        sync = IndexSync(
            factory,
            model_id=package.model_id,
            dim=package.config.embedding_size,
            config=IndexConfig(kind=settings.index_kind),
            path=settings.index_path,
        )
        sync.start()
        state = sync.status()
    typer.echo(
        f"rebuilt {state['path']}: {state['size']} templates of {state['model_id']} at revision {state['revision']}"
    )
