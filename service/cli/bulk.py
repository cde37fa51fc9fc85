"""``facegate enroll-folder DIR``: bulk enrolment, one sub-folder per person (its name is the external id).

Each person goes through :func:`service.core.enrolment.enrol_images`, the same call as the API's enrolment, so
the quality gate, the duplicate-identity refusal and the template revision behave exactly as over HTTP. The bulk
part is only scheduling:

- people missing from SQL are created first (display name = folder name), in the main process;
- people who already have templates of the serving model are skipped unless ``--again``, so an interrupted run
  is resumed by running it again;
- the enrolments run in a pool of worker processes (spawned, each with its own model and an in-memory index that
  it refreshes from SQL before each person, so the duplicate check sees what the other workers committed), or
  in this process with ``--workers 1``. Face analysis is CPU-bound torch work on one thread per worker, so the
  pool is how the command uses every core;
- every refused image is collected and printed at the end with its reason.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli import output
from service.cli.context import CliError, current_model_id, database, guarded, load_settings, runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from service.config import Settings
    from service.runtime import Runtime

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".pgm"})
DEFAULT_WORKERS = max(1, min(os.cpu_count() or 1, 4))


@dataclass(frozen=True)
class Job:
    """One person's enrolment, as sent to a worker (paths, not bytes: each worker reads its own files)."""

    person_id: int
    external_id: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Rejection:
    """An image (or a whole folder, ``image`` ``-``) that gave no template, and why (a stable code)."""

    person: str
    image: str
    reason: str
    detail: str = ""


@dataclass
class Outcome:
    """What became of one person: templates enrolled and images refused."""

    person_id: int
    external_id: str
    images: int
    enrolled: int = 0
    rejections: list[Rejection] = field(default_factory=list)


def natural_key(name: str) -> list[int | str]:
    """Sort ``s2`` before ``s10`` and ``2.pgm`` before ``10.pgm``, as a person reading the folder would."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def scan(directory: Path, max_per_person: int | None) -> list[tuple[str, list[Path]]]:
    """``(folder name, its images)`` for each visible sub-folder, in natural order; at most ``max_per_person``
    images each, the first ones in natural order."""
    if not directory.is_dir():
        raise CliError(f"{directory} is not a folder")
    folders = sorted((p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_name_key)
    if not folders:
        raise CliError(f"{directory} has no sub-folder (one per person, named by external id)")
    plans = []
    for folder in folders:
        images = sorted(
            (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.name[0] != "."),
            key=_name_key,
        )
        plans.append((folder.name, images[:max_per_person] if max_per_person else images))
    return plans


def _name_key(path: Path) -> list[int | str]:
    return natural_key(path.name)


def prepare(
    factory: sessionmaker[Session], model_id: str, plans: Sequence[tuple[str, list[Path]]], *, again: bool
) -> tuple[list[Job], list[str], list[Rejection], int]:
    """Create the missing people and decide who to enrol: ``(jobs, skipped external ids, folder-level
    rejections, people created)``. Each creation is committed on its own, so one bad folder costs only itself."""
    from pydantic import ValidationError

    from service.cli.context import validation_message
    from service.core import records
    from service.repositories import people
    from service.repositories.errors import NotFoundError, StorageError
    from service.schemas.people import PersonCreate

    jobs: list[Job] = []
    skipped: list[str] = []
    rejected: list[Rejection] = []
    created = 0
    for name, images in plans:
        if not images:
            rejected.append(Rejection(name, "-", "no_images", "no JPEG, PNG, WebP, BMP or PGM file"))
            continue
        try:
            body = PersonCreate(external_id=name, display_name=name)
        except ValidationError as exc:
            rejected.append(Rejection(name, "-", "external_id_invalid", validation_message(exc)))
            continue
        with factory() as session:
            try:
                person = people.get_person_by_external_id(session, external_id=body.external_id)
            except NotFoundError:
                try:
                    person = records.create_person(session, body)
                    session.commit()
                except StorageError as exc:
                    rejected.append(Rejection(name, "-", exc.code, str(exc)))
                    continue
                created += 1
            has = people.template_counts(session, person_ids=[person.id], model_id=model_id).get(person.id, 0)
        if has and not again:
            skipped.append(person.external_id)
            continue
        jobs.append(Job(person.id, person.external_id, tuple(str(path) for path in images)))
    return jobs, skipped, rejected, created


def enrol_job(opened: Runtime, job: Job, force: bool) -> Outcome:
    """Enrol one person through the service's enrolment; every refusal becomes a :class:`Rejection`."""
    from service.core.enrolment import DuplicateIdentityError, NothingEnrolledError, enrol_images
    from service.repositories.errors import StorageError

    opened.index.refresh()  # what other workers (or replicas) committed since: the duplicate check needs it
    outcome = Outcome(job.person_id, job.external_id, images=len(job.paths))
    images: list[tuple[str | None, bytes]] = []
    for path in map(Path, job.paths):
        try:
            images.append((path.name, path.read_bytes()))
        except OSError as exc:
            outcome.rejections.append(Rejection(job.external_id, path.name, "unreadable", exc.strerror or str(exc)))
    if not images:
        return outcome
    try:
        result = enrol_images(opened, person_id=job.person_id, images=images, force=force)
    except DuplicateIdentityError as exc:
        detail = f"matches {exc.other_external_id!r} (score {exc.score:.3f}); --force enrols anyway"
        outcome.rejections += [Rejection(job.external_id, str(name), exc.code, detail) for name, _ in images]
        return outcome
    except NothingEnrolledError as exc:
        outcome.rejections += [
            Rejection(job.external_id, str(v.filename), v.reason or "unusable") for v in exc.verdicts
        ]
        return outcome
    except StorageError as exc:  # e.g. the person was deleted meanwhile
        outcome.rejections.append(Rejection(job.external_id, "-", exc.code, str(exc)))
        return outcome
    outcome.enrolled = result.enrolled
    outcome.rejections += [
        Rejection(job.external_id, str(v.filename), v.reason) for v in result.verdicts if v.reason is not None
    ]
    return outcome


# -- the worker pool ---------------------------------------------------------------------------------------------
# A pool worker is a process of its own: its runtime lives in this module for the worker's lifetime (that is what
# a pool initializer is for). The main process never sets it.
_worker_runtime: Runtime | None = None


def _start_worker(settings: Settings) -> None:
    from service.runtime import Runtime

    global _worker_runtime
    logging.basicConfig(level=logging.WARNING)
    _worker_runtime = Runtime.open(settings, follow=False)


def _work(job: Job, force: bool) -> Outcome:
    if _worker_runtime is None:
        raise RuntimeError("enrol worker used before its initializer ran")
    return enrol_job(_worker_runtime, job, force)


def worker_settings(settings: Settings) -> Settings:
    """The workers' settings: no migration and no operator key (the main process did both), and an index in
    memory only (the file belongs to the servers; each worker's index lives as long as the run)."""
    return settings.model_copy(update={"index_path": None, "migrate_on_start": False, "admin_key": None})


def run_pool(settings: Settings, jobs: Sequence[Job], workers: int, force: bool) -> Iterator[Outcome]:
    """Enrol ``jobs`` in ``workers`` spawned processes, yielding outcomes as they finish.

    Spawned, not forked: a fork of a process that has started torch's thread pools can deadlock in the child.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(worker_settings(settings),)
    ) as pool:
        futures: list[Future[Outcome]] = [pool.submit(_work, job, force) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def run_here(opened: Runtime, jobs: Sequence[Job], force: bool) -> Iterator[Outcome]:
    for job in jobs:
        yield enrol_job(opened, job, force)


# -- the command -------------------------------------------------------------------------------------------------


@guarded
def enroll_folder(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="A folder with one sub-folder of images per person.")
    ],
    max_per_person: Annotated[
        int | None, typer.Option(min=1, help="Enrol at most this many images per person (the first, by name).")
    ] = None,
    again: Annotated[bool, typer.Option(help="Also enrol people who already have templates of this model.")] = False,
    force: Annotated[bool, typer.Option(help="Enrol even faces that match another person.")] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads the model); 1: in this process.")
    ] = DEFAULT_WORKERS,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Enrol a folder of people: DIR/EXTERNAL_ID/IMAGE files. Missing people are created (name = folder name).

    Resumable: people who already have templates of the serving model are skipped (--again enrols them anyway).
    At the end, every refused image is listed with its reason; the exit status is 1 when someone got no template.

    Example: facegate enroll-folder ./staff --max-per-person 5 --workers 2
    """
    from tqdm import tqdm

    settings = load_settings()
    plans = scan(directory, max_per_person)

    def drive(outcomes: Callable[[list[Job]], Iterator[Outcome]], factory: sessionmaker[Session], model: str) -> None:
        jobs, skipped, rejected, created = prepare(factory, model, plans, again=again)
        done: list[Outcome] = []
        with tqdm(total=len(jobs), unit="person", desc="enrolling", disable=None) as bar:
            for outcome in outcomes(jobs):
                done.append(outcome)
                bar.update(1)
        report(plans, done, skipped, rejected, created, as_json)

    if workers == 1:
        with runtime(settings) as opened:
            drive(lambda jobs: run_here(opened, jobs, force), opened.sessionmaker, opened.embedder.model_id)
    else:
        with database(settings) as factory:
            model_id = current_model_id(settings)
            drive(lambda jobs: run_pool(settings, jobs, min(workers, max(1, len(jobs))), force), factory, model_id)


def report(
    plans: Sequence[tuple[str, list[Path]]],
    done: list[Outcome],
    skipped: list[str],
    rejected: list[Rejection],
    created: int,
    as_json: bool,
) -> None:
    """Print the summary and the table of refused images; exit 1 (after printing) when someone got nothing."""
    done.sort(key=lambda o: natural_key(o.external_id))
    refusals = rejected + [r for o in done for r in o.rejections]
    failed = [o.external_id for o in done if o.enrolled == 0] + [r.person for r in rejected]
    templates = sum(o.enrolled for o in done)
    if as_json:
        output.echo_json(
            {
                "folders": len(plans),
                "people_created": created,
                "people_enrolled": sum(o.enrolled > 0 for o in done),
                "people_skipped": skipped,
                "people_failed": failed,
                "templates": templates,
                "rejected": [asdict(r) for r in refusals],
            }
        )
    else:
        typer.echo(
            f"{len(plans)} folders: {sum(o.enrolled > 0 for o in done)} people enrolled ({created} created), "
            f"{len(skipped)} skipped (already enrolled), {len(failed)} without any template"
        )
        typer.echo(f"{templates} templates stored, {len(refusals)} images refused")
        if refusals:
            typer.echo("")
            output.echo_table(("person", "image", "reason", "detail"), [astuple(r) for r in refusals])
    if failed:
        raise CliError(f"{len(failed)} of {len(plans)} people got no template (see the refused images)")


def astuple(rejection: Rejection) -> tuple[str, str, str, str]:
    return (rejection.person, rejection.image, rejection.reason, rejection.detail or "")
