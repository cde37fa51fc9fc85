"""Face templates in SQL. Every insert and delete bumps the template revision in the same transaction, so that
each replica's index can tell it is stale (see :mod:`service.db.revision`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session, aliased, undefer

from models.quality import FaceQuality
from service.db.models import FaceTemplate, Person
from service.db.revision import bump_template_revision
from service.repositories.errors import NotFoundError


def embedding_bytes(embedding: np.ndarray) -> bytes:
    """The stored form: little-endian float32."""
    return np.ascontiguousarray(embedding, dtype="<f4").tobytes()


def embedding_array(data: bytes, dim: int) -> np.ndarray:
    vector = np.frombuffer(data, dtype="<f4")
    if vector.shape != (dim,):
        raise ValueError(f"stored embedding has {vector.size} values, expected {dim}")
    return vector.astype(np.float32)


def add_templates(
    session: Session,
    *,
    person_id: int,
    model_id: str,
    faces: Sequence[tuple[np.ndarray, FaceQuality, bytes | None]],
) -> tuple[list[FaceTemplate], int]:
    """Store ``(embedding, quality, encrypted crop or None)`` for each face; the rows and the new revision."""
    rows = [
        FaceTemplate(
            person_id=person_id,
            embedding=embedding_bytes(embedding),
            embedding_dim=int(embedding.shape[0]),
            model_id=model_id,
            interocular_px=quality.interocular_px,
            det_score=quality.det_score,
            blur=quality.blur,
            yaw=quality.yaw,
            pitch=quality.pitch,
            roll=quality.roll,
            aligned_crop=crop,
        )
        for embedding, quality, crop in faces
    ]
    session.add_all(rows)
    session.flush()
    return rows, bump_template_revision(session)


def list_templates(session: Session, *, person_id: int) -> list[FaceTemplate]:
    return list(
        session.scalars(select(FaceTemplate).where(FaceTemplate.person_id == person_id).order_by(FaceTemplate.id))
    )


def delete_template(session: Session, *, person_id: int, template_id: int) -> int:
    """Delete one of the person's templates; the new revision."""
    deleted = session.execute(
        delete(FaceTemplate).where(FaceTemplate.id == template_id, FaceTemplate.person_id == person_id)
    ).rowcount  # type: ignore[attr-defined]
    if not deleted:
        raise NotFoundError("template", template_id)
    return bump_template_revision(session)


def person_embeddings(session: Session, *, person_id: int, model_id: str) -> np.ndarray:
    """The person's embeddings of ``model_id``, ``(N, E)`` float32 (for 1:1 verification)."""
    rows = session.execute(
        select(FaceTemplate.embedding, FaceTemplate.embedding_dim).where(
            FaceTemplate.person_id == person_id, FaceTemplate.model_id == model_id
        )
    ).all()
    if not rows:
        return np.zeros((0, 0), np.float32)
    return np.stack([embedding_array(data, dim) for data, dim in rows])


def count_templates(session: Session, *, model_id: str) -> int:
    """Templates of ``model_id``: the gallery a server's index holds for that model."""
    return int(session.scalar(select(func.count()).where(FaceTemplate.model_id == model_id)) or 0)


def template_people(session: Session, *, model_id: str) -> dict[int, int]:
    """Template id → person id of every template of ``model_id`` (what an index of that model must hold)."""
    statement = select(FaceTemplate.id, FaceTemplate.person_id).where(FaceTemplate.model_id == model_id)
    return {int(tid): int(pid) for tid, pid in session.execute(statement)}


def other_model_templates(session: Session, *, model_id: str) -> list[tuple[int, str, bool, bool]]:
    """Every template of another model than ``model_id``, by id: ``(template id, the person's external id, has a
    kept crop, already re-embedded)``. Re-embedded means a template of ``model_id`` of the same person carries the
    same encrypted crop (re-embedding copies it). The crops themselves are not read (the large column)."""
    current = aliased(FaceTemplate)
    done = exists().where(
        current.model_id == model_id,
        current.person_id == FaceTemplate.person_id,
        current.aligned_crop == FaceTemplate.aligned_crop,
    )
    rows = session.execute(
        select(FaceTemplate.id, Person.external_id, FaceTemplate.aligned_crop.is_not(None), done)
        .join(Person, Person.id == FaceTemplate.person_id)
        .where(FaceTemplate.model_id != model_id)
        .order_by(FaceTemplate.id)
    ).all()
    return [(int(tid), str(external_id), bool(has_crop), bool(is_done)) for tid, external_id, has_crop, is_done in rows]


def templates_with_crops(session: Session, *, template_ids: Sequence[int]) -> list[FaceTemplate]:
    """The templates ``template_ids`` (by id) with their kept crop loaded."""
    statement = (
        select(FaceTemplate)
        .where(FaceTemplate.id.in_(template_ids))
        .options(undefer(FaceTemplate.aligned_crop))
        .order_by(FaceTemplate.id)
    )
    return list(session.scalars(statement))
