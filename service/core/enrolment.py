"""Enrolment: a person's images → quality-gated faces → templates in SQL and in this replica's index.

Each image is judged on its own (a bad one is reported with its reason and skipped); the images that pass are
stored together in one transaction. An enrolment whose face already matches *another* person above the match
threshold is refused as a duplicate identity (one person enrolled twice under two badges, or the wrong photo
attached), unless an admin forces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.imageio import ImageError
from service.domain.analysis import analyse_subject
from service.domain.outcomes import ImageVerdict
from service.repositories.errors import ConflictError, StorageError
from service.repositories.people import get_person, lock_person
from service.repositories.templates import add_templates
from service.runtime import Runtime


@dataclass(frozen=True)
class EnrolmentResult:
    person_id: int
    verdicts: list[ImageVerdict]
    revision: int | None

    @property
    def enrolled(self) -> int:
        return sum(v.template_id is not None for v in self.verdicts)


class DuplicateIdentityError(ConflictError):
    """The face matches another enrolled person above the threshold."""

    def __init__(self, other_person_id: int, other_external_id: str, score: float) -> None:
        super().__init__(
            "duplicate_identity",
            f"this face matches person {other_external_id!r} (score {score:.3f}); an admin may force the enrolment",
        )
        self.other_person_id = other_person_id
        self.other_external_id = other_external_id
        self.score = score


class NothingEnrolledError(StorageError):
    """No uploaded image gave a usable face; ``verdicts`` says why for each."""

    code = "no_usable_face"

    def __init__(self, verdicts: list[ImageVerdict]) -> None:
        super().__init__("no image gave a usable face: " + ", ".join(f"#{v.index}: {v.reason}" for v in verdicts))
        self.verdicts = verdicts
        self.field_errors = [(("body", "images", v.index), v.reason or "unusable") for v in verdicts]


def enrol_images(
    runtime: Runtime, *, person_id: int, images: Sequence[tuple[str | None, bytes]], force: bool = False
) -> EnrolmentResult:
    """Enrol the usable faces of ``images`` (``(filename, bytes)``) for the person.

    Raises :class:`~service.repositories.errors.NotFoundError` for an unknown person,
    :class:`DuplicateIdentityError` (unless ``force``) and :class:`NothingEnrolledError`; nothing is stored then.
    """
    with runtime.sessionmaker() as session:
        get_person(session, person_id=person_id)
    verdicts: list[ImageVerdict] = []
    for index, (filename, data) in enumerate(images):
        try:
            face = analyse_subject(runtime.embedder, data, runtime.gate, enrolment=True)
        except ImageError as exc:
            verdicts.append(ImageVerdict(index, filename, None, exc.code, None))
            continue
        reason = face.issue.value if face.issue is not None else None
        verdicts.append(ImageVerdict(index, filename, None, reason, face))
    usable = [v for v in verdicts if v.reason is None and v.face is not None and v.face.embedding is not None]
    if not usable:
        raise NothingEnrolledError(verdicts)
    embeddings = np.stack([v.face.embedding for v in usable if v.face is not None and v.face.embedding is not None])
    if not force:
        _refuse_duplicates(runtime, person_id, embeddings)
    cipher = runtime.crop_cipher if runtime.settings.keep_crops else None
    faces = [
        (
            v.face.embedding,
            v.face.quality,
            cipher.encrypt(v.face.crop) if cipher is not None and v.face.crop is not None else None,
        )
        for v in usable
        if v.face is not None and v.face.embedding is not None and v.face.quality is not None
    ]
    with runtime.sessionmaker.begin() as session:
        lock_person(session, person_id=person_id)  # still there, and kept there until this transaction ends
        rows, revision = add_templates(session, person_id=person_id, model_id=runtime.embedder.model_id, faces=faces)
        added = [(row.id, person_id, face[0]) for row, face in zip(rows, faces, strict=True)]
    runtime.index.apply(added=added, revision=revision)
    ids = iter(row_id for row_id, _, _ in added)
    final = [ImageVerdict(v.index, v.filename, next(ids) if v in usable else None, v.reason, v.face) for v in verdicts]
    return EnrolmentResult(person_id=person_id, verdicts=final, revision=revision)


def _refuse_duplicates(runtime: Runtime, person_id: int, embeddings: np.ndarray) -> None:
    threshold = runtime.match_rule.threshold
    best: tuple[float, int] | None = None
    for hits in runtime.index.search(embeddings, runtime.settings.top_k):
        for hit in hits:
            if hit.person_id != person_id and hit.score >= threshold and (best is None or hit.score > best[0]):
                best = (hit.score, hit.person_id)
    if best is None:
        return
    with runtime.sessionmaker() as session:
        other = get_person(session, person_id=best[1])
        raise DuplicateIdentityError(other.id, other.external_id, best[0])
