"""1:1 verification (is this the claimed person?) and 1:N identification (who are the nearest people?).

Neither decides access nor writes the access log: they answer "who", for enrolment desks and investigations;
doors go through :mod:`service.core.access`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from service.db.models import Person
from service.domain.analysis import SubjectFace, analyse_subject
from service.domain.matching import Match, match_face
from service.repositories.people import get_person
from service.repositories.templates import person_embeddings
from service.runtime import Runtime


@dataclass(frozen=True)
class Verification:
    person_id: int
    verified: bool
    score: float | None
    threshold: float
    reason: str | None
    face: SubjectFace


@dataclass(frozen=True)
class Candidate:
    person: Person
    score: float
    template_id: int


@dataclass(frozen=True)
class Identification:
    candidates: list[Candidate]
    match: Match | None
    threshold: float
    face: SubjectFace


def verify(runtime: Runtime, *, person_id: int, image: bytes) -> Verification:
    """Compare the image's subject with the claimed person's templates (best score against the threshold).

    ``reason`` is a quality issue (``no_face``...), ``no_templates`` when the person has none for this model,
    ``below_threshold`` when the face is not theirs, ``None`` when verified.
    """
    with runtime.sessionmaker() as session:
        get_person(session, person_id=person_id)
        gallery = person_embeddings(session, person_id=person_id, model_id=runtime.embedder.model_id)
    face = analyse_subject(runtime.embedder, image, runtime.gate, enrolment=False)
    threshold = runtime.match_rule.threshold
    if face.issue is not None or face.embedding is None:
        reason = face.issue.value if face.issue is not None else "no_face"
        return Verification(person_id, False, None, threshold, reason, face)
    if gallery.size == 0:
        return Verification(person_id, False, None, threshold, "no_templates", face)
    score = float(np.max(gallery @ face.embedding))
    verified = score >= threshold
    return Verification(person_id, verified, score, threshold, None if verified else "below_threshold", face)


def identify(runtime: Runtime, *, image: bytes, k: int) -> Identification:
    """The ``k`` nearest people to the image's subject, best first, and what the match rule makes of them."""
    face = analyse_subject(runtime.embedder, image, runtime.gate, enrolment=False)
    threshold = runtime.match_rule.threshold
    if face.issue is not None or face.embedding is None:
        return Identification([], None, threshold, face)
    hits = runtime.index.search(face.embedding, k, by=runtime.threshold_policy.template_match)[0]
    with runtime.sessionmaker() as session:
        people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([h.person_id for h in hits])))}
    # A person deleted since the search is gone from the answer too.
    candidates = [Candidate(people[h.person_id], h.score, h.template_id) for h in hits if h.person_id in people]
    match = match_face([h for h in hits if h.person_id in people], runtime.match_rule)
    return Identification(candidates, match, threshold, face)
