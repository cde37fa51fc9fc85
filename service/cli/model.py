"""``facegate model info|reembed``: the face model package in force, and moving templates to it.

``reembed`` runs :func:`service.core.reembed.reembed_templates` (the kept crops, encrypted, become templates of the
serving model; the operator opted in with FACEGATE_KEEP_CROPS and FACEGATE_CROP_KEY) and lists the people whose
templates have no crop: they must be enrolled again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli import output
from service.cli.context import CliError, guarded, load_settings, runtime, session_scope

if TYPE_CHECKING:
    from service.domain.threshold import GalleryThreshold

model_app = typer.Typer(help="The face model package.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@model_app.command("info")
@guarded
def info(as_json: JsonOpt = False) -> None:
    """Show the model package in force: id, architecture, trained flag, calibration table, path.

    Example: facegate model info
    """
    from models.package import ModelPackageError, load_package
    from service.runtime import threshold_policy_for  # the model and index modules: not at the CLI's import

    settings = load_settings()
    package = load_package(settings.model_path, network=False)  # the ids and tables only: no torch
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
        "threshold_matched": in_force.matched if in_force is not None else None,
        "template_match": threshold_policy_for(settings, package).template_match,
        "frame_fusion": settings.frame_fusion,
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
    from service.repositories.templates import count_templates

    with session_scope() as session:
        return count_templates(session, model_id=model_id)


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
    from service.core.reembed import CropsNotKeptError, reembed_templates

    with runtime(load_settings()) as opened:
        try:
            result = reembed_templates(opened, batch_size=batch_size)
        except CropsNotKeptError as exc:
            raise CliError(f"model reembed: {exc}") from exc
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
