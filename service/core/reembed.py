"""Re-embedding after a model change: the aligned crops kept at enrolment (encrypted) become templates of the
serving model, so people need not come back to be photographed.

Embeddings of different models are never compared (DESIGN.md): after a model change, only templates of the new
model count. The old templates stay (the previous model may still serve elsewhere); templates without a kept crop
are reported by person (those people must be enrolled again). Safe to run again: what is done is skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from models.quality import FaceQuality
from service.db.models import FaceTemplate
from service.domain.crops import CropKeyError
from service.repositories.templates import add_templates, other_model_templates, templates_with_crops
from service.runtime import Runtime


class CropsNotKeptError(RuntimeError):
    """Re-embedding needs the kept crops and their key (``keep_crops`` and ``crop_key``)."""


@dataclass
class Reembedding:
    """What a run did: templates made, already done, without a crop (per external id), failed (id, why)."""

    model_id: str
    reembedded: int = 0
    already: int = 0
    revision: int | None = None
    without_crop: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[int, str]] = field(default_factory=list)


def reembed_templates(runtime: Runtime, *, batch_size: int = 64) -> Reembedding:
    """Re-embed every kept crop of another model's templates with the serving model, once.

    A template counts as done when a template of the serving model, of the same person, carries the same
    encrypted crop (it is copied, so that a later model can re-embed it again): running twice adds nothing.
    Crops are read ``batch_size`` at a time (they are the large column); each batch is one transaction, applied
    to this runtime's index. Raises :class:`CropsNotKeptError` when crops are not kept or there is no key.
    """
    cipher = runtime.crop_cipher
    if not runtime.settings.keep_crops or cipher is None:
        raise CropsNotKeptError("re-embedding needs FACEGATE_KEEP_CROPS=true and FACEGATE_CROP_KEY (the crops' key)")
    model_id = runtime.embedder.model_id
    result = Reembedding(model_id=model_id)
    with runtime.sessionmaker() as session:
        old = other_model_templates(session, model_id=model_id)
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
        with runtime.sessionmaker() as session:
            loaded = templates_with_crops(session, template_ids=todo[start : start + batch_size])
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
            result.revision = _store(runtime, batch, runtime.embedder.embed_crops(np.stack(crops)))
            result.reembedded += len(batch)
    return result


def _store(runtime: Runtime, batch: list[FaceTemplate], embeddings: np.ndarray) -> int:
    """The new templates of one batch (quality figures and crop copied from the old ones; ``embeddings`` is
    ``(len(batch), E)``), in one transaction, then in the index; the revision reached."""
    by_person: dict[int, list[int]] = {}
    for i, template in enumerate(batch):
        by_person.setdefault(template.person_id, []).append(i)
    added: list[tuple[int, int, np.ndarray]] = []
    revision = 0
    with runtime.sessionmaker.begin() as session:
        for person_id, rows in by_person.items():
            faces = []
            for i in rows:
                old = batch[i]
                quality = FaceQuality(old.interocular_px, old.det_score, old.blur, old.yaw, old.pitch, old.roll)
                faces.append((embeddings[i], quality, old.aligned_crop))
            stored, revision = add_templates(
                session, person_id=person_id, model_id=runtime.embedder.model_id, faces=faces
            )
            added += [(row.id, person_id, embeddings[i]) for row, i in zip(stored, rows, strict=True)]
    runtime.index.apply(added=added, revision=revision)
    return revision
