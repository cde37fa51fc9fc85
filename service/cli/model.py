"""``facegate model info|reembed``: the face model package in force, and moving templates to it.

Embeddings of different models are never compared (DESIGN.md): after a model change, only templates of the new
model count. ``reembed`` makes them from the aligned crops kept at enrolment (encrypted; the operator opted in
with FACEGATE_KEEP_CROPS and FACEGATE_CROP_KEY), so people need not come back to be photographed. The old templates
stay (the previous model may still serve elsewhere); people whose templates have no crop must be re-enrolled, and
the command lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli import output
from service.cli.context import CliError, guarded, load_settings, runtime, session_scope

if TYPE_CHECKING:
    import numpy as np

    from service.db.models import FaceTemplate
    from service.domain.threshold import GalleryThreshold
    from service.runtime import Runtime

model_app = typer.Typer(help="The face model package.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@model_app.command("info")
@guarded
def info(as_json: JsonOpt = False) -> None:
    """Show the model package in force: id, architecture, trained flag, calibration table, path.

    Example: facegate model info
    """
    from models.package import ModelPackageError, load_package
    from service.runtime import threshold_policy_for  # torch, through the package: not at the CLI's import

    settings = load_settings()
    package = load_package(settings.model_path)
    calibration = package.calibration
    gallery = _gallery_size(package.model_id)
    in_force: GalleryThreshold | None
    try:
        in_force = threshold_policy_for(settings, package).for_gallery(gallery)
    except ModelPackageError:  # uncalibrated, or not at this FAR: the server would refuse to start
        in_force = None
    threshold = in_force.threshold if in_force is not None else settings.match_threshold
    report: dict[str, Any] = {
        "model_id": package.model_id,
        "trained": package.trained,
        "path": str(package.source) if package.source else None,
        "architecture": package.config.architecture(),
        "calibration": calibration.to_json(),
        "target_far": settings.target_far,
        "target_fpir": settings.target_fpir,
        "threshold_in_force": threshold,
        "threshold_basis": in_force.basis if in_force is not None else None,
        "threshold_gallery_size": gallery,
        "per_comparison_far": in_force.per_comparison_far if in_force is not None else None,
        "threshold_overridden": settings.match_threshold is not None,
    }
    if as_json:
        output.echo_json(report)
        return
    arch = package.config
    if settings.match_threshold is not None:
        basis = " (FACEGATE_MATCH_THRESHOLD)"
    elif in_force is not None and in_force.basis == "fpir":
        basis = (
            f" for FPIR {settings.target_fpir:g} per check at {gallery:,} templates "
            f"(per-comparison FAR {in_force.per_comparison_far:.3g})"
        )
    else:
        basis = f" at FAR {settings.target_far:g} (fixed: not following the gallery)"
    output.echo_pairs(
        [
            ("model id", package.model_id),
            ("trained", package.trained),
            ("package", report["path"]),
            ("architecture", f"{arch.backbone} {arch.backbone_cfg}"),
            ("input", f"{arch.input_size}x{arch.input_size}, mean {arch.mean}, std {arch.std}"),
            ("embedding", f"{arch.embedding_size}-d, L2-normalised"),
            ("calibrated", calibration.calibrated),
            ("threshold", f"{threshold}{basis}"),
        ]
    )
    if calibration.thresholds:
        typer.echo("")
        output.echo_table(
            ("target FAR", "threshold", "TAR"),
            [(f"{p.far:g}", p.threshold, p.tar) for p in calibration.thresholds],
        )
        typer.echo(f"measured on: {calibration.measured_on}")
    if not package.trained:
        typer.echo("warning: this package is untrained: it cannot recognise anyone", err=True)


def _gallery_size(model_id: str) -> int:
    """Templates of ``model_id`` in SQL: the gallery a running server's index holds, so the threshold shown is the
    one it derives."""
    from sqlalchemy import func, select

    from service.db.models import FaceTemplate

    with session_scope() as session:
        return int(session.scalar(select(func.count()).where(FaceTemplate.model_id == model_id)) or 0)


@dataclass
class Reembedding:
    """What ``reembed`` did: templates made, already done, without a crop (by person), failed."""

    model_id: str
    reembedded: int = 0
    already: int = 0
    revision: int | None = None
    without_crop: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[int, str]] = field(default_factory=list)


def reembed_templates(opened: Runtime, *, batch_size: int = 64) -> Reembedding:
    """Re-embed every kept crop of another model's templates with the serving model, once.

    A template counts as done when a template of the serving model, of the same person, carries the same
    encrypted crop (it is copied, so that a later model can re-embed it again): running twice adds nothing.
    Crops are read a batch at a time (they are the large column); each batch is one transaction, applied to
    this runtime's index.
    """
    import hashlib

    import numpy as np
    from sqlalchemy import exists, select
    from sqlalchemy.orm import aliased, undefer

    from service.db.models import FaceTemplate, Person
    from service.domain.crops import CropKeyError

    cipher = opened.crop_cipher
    if not opened.settings.keep_crops or cipher is None:
        raise CliError("model reembed needs FACEGATE_KEEP_CROPS=true and FACEGATE_CROP_KEY (the crops' key)")
    model_id = opened.embedder.model_id
    result = Reembedding(model_id=model_id)
    current = aliased(FaceTemplate)
    done = exists().where(
        current.model_id == model_id,
        current.person_id == FaceTemplate.person_id,
        current.aligned_crop == FaceTemplate.aligned_crop,
    )
    with opened.sessionmaker() as session:
        old = session.execute(
            select(FaceTemplate.id, Person.external_id, FaceTemplate.aligned_crop.is_not(None), done)
            .join(Person, Person.id == FaceTemplate.person_id)
            .where(FaceTemplate.model_id != model_id)
            .order_by(FaceTemplate.id)
        ).all()
    todo: list[int] = []
    for template_id, external_id, has_crop, is_done in old:
        if not has_crop:
            result.without_crop[external_id] = result.without_crop.get(external_id, 0) + 1
        elif is_done:
            result.already += 1
        else:
            todo.append(template_id)
    seen: set[bytes] = set()  # a crop carried by several old templates (models A, then B) is re-embedded once
    for start in range(0, len(todo), batch_size):
        with opened.sessionmaker() as session:
            loaded = session.scalars(
                select(FaceTemplate)
                .where(FaceTemplate.id.in_(todo[start : start + batch_size]))
                .options(undefer(FaceTemplate.aligned_crop))
                .order_by(FaceTemplate.id)
            ).all()
        batch, crops = [], []
        for template in loaded:
            token = template.aligned_crop or b""
            digest = hashlib.sha256(token).digest()
            if digest in seen:
                result.already += 1
                continue
            try:
                crops.append(cipher.decrypt(token))
            except CropKeyError as exc:
                result.failed.append((template.id, str(exc)))
                continue
            seen.add(digest)
            batch.append(template)
        if batch:
            result.revision = _store(opened, batch, opened.embedder.embed_crops(np.stack(crops)))
            result.reembedded += len(batch)
    return result


def _store(opened: Runtime, batch: list[FaceTemplate], embeddings: np.ndarray) -> int:
    """The new templates of one batch (quality figures and crop copied from the old ones), in one transaction,
    then in the index; the revision reached."""
    from models.quality import FaceQuality
    from service.repositories.templates import add_templates

    by_person: dict[int, list[int]] = {}
    for i, template in enumerate(batch):
        by_person.setdefault(template.person_id, []).append(i)
    added: list[tuple[int, int, np.ndarray]] = []
    revision = 0
    with opened.sessionmaker.begin() as session:
        for person_id, rows in by_person.items():
            faces = []
            for i in rows:
                old = batch[i]
                quality = FaceQuality(old.interocular_px, old.det_score, old.blur, old.yaw, old.pitch, old.roll)
                faces.append((embeddings[i], quality, old.aligned_crop))
            stored, revision = add_templates(
                session, person_id=person_id, model_id=opened.embedder.model_id, faces=faces
            )
            added += [(row.id, person_id, embeddings[i]) for row, i in zip(stored, rows, strict=True)]
    opened.index.apply(added=added, revision=revision)
    return revision


@model_app.command("reembed")
@guarded
def reembed(
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Crops embedded per batch.")] = 64,
    as_json: JsonOpt = False,
) -> None:
    """Re-embed, with the serving model, every template of another model whose aligned crop was kept.

    Needs FACEGATE_KEEP_CROPS=true and FACEGATE_CROP_KEY. Templates without a crop are reported by person: those
    people must be enrolled again. Safe to run again: what is done is skipped.

    Example: FACEGATE_MODEL_PATH=models/packages/new facegate model reembed
    """
    with runtime(load_settings()) as opened:
        result = reembed_templates(opened, batch_size=batch_size)
    if as_json:
        output.echo_json(result.__dict__)
        return
    typer.echo(
        f"re-embedded {result.reembedded} templates with {result.model_id}"
        + (f" (template revision {result.revision})" if result.revision is not None else "")
        + f"; {result.already} done before"
    )
    if result.without_crop:
        typer.echo(f"{sum(result.without_crop.values())} templates have no kept crop; enrol these people again:")
        output.echo_table(("person", "templates without crop"), sorted(result.without_crop.items()))
    if result.failed:
        output.echo_table(("template", "failure"), result.failed)
        raise CliError(f"{len(result.failed)} crops could not be decrypted (is FACEGATE_CROP_KEY the right key?)")
