"""Face templates in SQL. Every insert and delete bumps the template revision in the same transaction, so that
each replica's index can tell it is stale (see :mod:`service.db.revision`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.quality import FaceQuality
from service.db.models import FaceTemplate
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
