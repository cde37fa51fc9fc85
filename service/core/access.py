"""The access decision: door + frames → granted or denied, with a reason, always written to the access log.

decode (4xx for a bad image: nothing decided) → per frame: detect → subject → quality gate → align → embed →
search → match rule → frames combined (``frame_fusion``: every frame matched and required to agree, the default, or
the frames' embeddings fused and matched once) → rights (person status and validity, rules at the
door's local time) → decision → log. Any failure after decoding denies with ``internal_error`` and is still logged
(fail closed). Blocking: the HTTP layer runs it in a worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from models.imageio import decode_image
from service.db.models import Door, Person, PersonStatus
from service.db.types import utcnow
from service.domain.analysis import QualityIssue, SubjectFace, Timings, analyse_array
from service.domain.matching import Match, MatchRule, combine_frames, fuse_frames, match_face, match_fused
from service.domain.outcomes import AccessOutcome, Decision, MatchedPerson
from service.domain.policy import Reason, Subject, decide_rights
from service.repositories.access_log import append_entry
from service.repositories.doors import get_door
from service.repositories.groups import group_ids_of
from service.repositories.rules import rules_for
from service.repositories.webhooks import enqueue_decision
from service.runtime import Runtime

logger = logging.getLogger(__name__)

STAGES = ("decode", "detect", "align", "embed", "search", "policy", "log")


def check_at_door(
    runtime: Runtime,
    *,
    door_id: int,
    frames: Sequence[bytes],
    key_id: int | None,
    observe: Callable[[AccessOutcome], None] | None = None,
) -> AccessOutcome:
    """The access check as a door's terminal (API or kiosk) asks it, in one call: the door looked up, the frames
    decided and logged (:func:`check_access`), the outcome handed to ``observe`` (the metrics) before it returns.

    Raises :class:`~service.repositories.errors.NotFoundError` for an unknown door and
    :class:`models.imageio.ImageError` for an undecodable frame: nothing is decided, logged or observed then.
    """
    with runtime.sessionmaker() as session:
        door = get_door(session, door_id=door_id)
    outcome = check_access(runtime, door=door, frames=frames, key_id=key_id)
    if observe is not None:
        observe(outcome)
    return outcome


def check_access(
    runtime: Runtime, *, door: Door, frames: Sequence[bytes], key_id: int | None, at: datetime | None = None
) -> AccessOutcome:
    """Decide whether the person in ``frames`` may pass ``door`` now (or at ``at``), and log the decision.

    Raises :class:`models.imageio.ImageError` for an undecodable frame (the caller answers 4xx; nothing is decided
    or logged). Every later failure becomes a logged ``internal_error`` denial.
    """
    if not frames:
        raise ValueError("at least one frame is needed")
    check = _Check(runtime, door, key_id, len(frames), at or utcnow(), time.perf_counter())
    arrays = []
    for data in frames:
        begin = time.perf_counter()
        arrays.append(decode_image(data, runtime.settings.access_image_limits()))
        check.lap("decode", begin)
    try:
        return _decide(check, arrays)
    except Exception:
        logger.exception("access check at door %s failed: denying (fail closed)", door.id)
        return check.finish(Reason.INTERNAL_ERROR)


def _decide(check: _Check, arrays: list[np.ndarray]) -> AccessOutcome:
    runtime = check.runtime
    embeddings: list[np.ndarray] = []
    for array in arrays:
        face = analyse_array(runtime.embedder, array, runtime.gate, enrolment=False, timings=check.stages)
        check.faces.append(face)
        if face.usable and face.embedding is not None:
            embeddings.append(face.embedding)
    if not embeddings:
        no_face = all(face.issue is QualityIssue.NO_FACE for face in check.faces)
        return check.finish(Reason.NO_FACE if no_face else Reason.QUALITY_TOO_LOW)
    begin = time.perf_counter()
    # Level with SQL's template revision right before searching (one small query when nothing changed), not before
    # detection: a template deleted on another replica before the search began is never matched here, whatever the
    # follower's interval, and a frame without a usable face costs no query.
    runtime.index.refresh()
    fused = len(embeddings) > 1 and runtime.settings.frame_fusion == "fused"
    in_force = runtime.threshold_in_force(fused=fused)  # a fused probe has its own impostor tail
    check.threshold, check.gallery_size = in_force.threshold, in_force.gallery_size
    rule = MatchRule(threshold=in_force.threshold, margin=runtime.settings.match_margin)
    k, by = runtime.settings.top_k, runtime.threshold_policy.template_match
    index = runtime.index
    frame_hits = index.search(np.stack(embeddings), k, by=by)
    combined: Match
    if len(embeddings) == 1:
        combined = match_face(frame_hits[0], rule)
    elif fused:
        combined = match_fused(index.search(fuse_frames(np.stack(embeddings)), k, by=by)[0], frame_hits, rule)
    else:
        combined = combine_frames([match_face(hits, rule) for hits in frame_hits])
    check.lap("search", begin)
    if not combined.matched or combined.person_id is None:
        return check.finish(combined.reason or Reason.UNKNOWN_FACE, match=combined)
    begin = time.perf_counter()
    # One session reads the rights and then writes the log row (one connection checkout less per matched face).
    with runtime.sessionmaker() as session:
        reason, person, rule_id = _rights(session, check, combined.person_id)
        check.lap("policy", begin)
        return check.finish(reason, match=combined, person=person, rule_id=rule_id, session=session)


def _rights(session: Session, check: _Check, person_id: int) -> tuple[Reason, MatchedPerson | None, int | None]:
    """What the matched person's status and rules say at this door now, and the rule that grants (if any)."""
    door = check.door
    person = session.get(Person, person_id)
    if person is None:  # deleted between the search and now: nobody to let in
        return Reason.UNKNOWN_FACE, None, None
    subject = Subject(
        person_id=person.id,
        active=person.status is PersonStatus.ACTIVE,
        valid_from=person.valid_from,
        valid_until=person.valid_until,
        group_ids=group_ids_of(session, person_id=person.id),
    )
    rules = rules_for(session, person_id=person.id, group_ids=subject.group_ids, door_id=door.id)
    decision = decide_rights(subject, rules, door_id=door.id, door_timezone=door.timezone, at=check.at)
    return decision.reason, MatchedPerson(person.id, person.external_id, person.display_name), decision.rule_id


@dataclass
class _Check:
    """One access check in progress: what it has seen and timed so far."""

    runtime: Runtime
    door: Door
    key_id: int | None
    frame_count: int
    at: datetime
    started: float
    stages: Timings = field(default_factory=dict)
    faces: list[SubjectFace] = field(default_factory=list)
    threshold: float | None = None
    gallery_size: int | None = None

    def lap(self, stage: str, began: float) -> None:
        self.stages[stage] = self.stages.get(stage, 0.0) + time.perf_counter() - began

    def finish(
        self,
        reason: Reason,
        *,
        match: Match | None = None,
        person: MatchedPerson | None = None,
        rule_id: int | None = None,
        session: Session | None = None,
    ) -> AccessOutcome:
        """Log the decision (a failure to log is itself logged and turns a grant into an ``internal_error``
        denial: nobody passes unrecorded) and build the outcome. The log row is written in ``session`` (then
        committed) when given, else in a transaction of its own."""
        decision = Decision.GRANTED if reason is Reason.GRANTED else Decision.DENIED
        outcome = AccessOutcome(
            decision=decision,
            reason=reason,
            door_id=self.door.id,
            person=person,
            rule_id=rule_id if decision is Decision.GRANTED else None,
            score=match.score if match is not None else None,
            margin=match.margin if match is not None else None,
            frames=self.frame_count,
            usable_frames=sum(face.usable for face in self.faces),
            quality=_quality_of(self.faces),
            latency_ms=self.elapsed_ms(),
            stages_ms={},
            log_id=None,
            model_id=self.runtime.embedder.model_id,
            threshold=self.threshold,
            gallery_size=self.gallery_size,
            at=self.at,
        )
        begin = time.perf_counter()
        log_id: int | None = None
        events = 0
        try:
            if session is None:
                with self.runtime.sessionmaker.begin() as own:
                    log_id, events = self._log(own, outcome)
            else:
                try:
                    log_id, events = self._log(session, outcome)
                    session.commit()
                except Exception:
                    session.rollback()
                    raise
        except Exception:
            logger.exception("could not write the access log at door %s: denying", self.door.id)
            log_id, events = None, 0
            outcome = replace(outcome, decision=Decision.DENIED, reason=Reason.INTERNAL_ERROR, rule_id=None)
        self.lap("log", begin)
        if events and self.runtime.events is not None:
            self.runtime.events.wake()
        stages_ms = {stage: seconds * 1000.0 for stage, seconds in self.stages.items()}
        return replace(outcome, log_id=log_id, latency_ms=self.elapsed_ms(), stages_ms=stages_ms)

    def _log(self, session: Session, outcome: AccessOutcome) -> tuple[int, int]:
        """The log row and its outbox rows (they commit with the log row or not at all: DESIGN.md, no event is
        lost); the row's id and the number of events."""
        entry = append_entry(session, outcome, door_name=self.door.name, key_id=self.key_id)
        person = outcome.person
        events = enqueue_decision(
            session,
            entry=entry,
            person=None
            if person is None
            else {"id": person.id, "external_id": person.external_id, "display_name": person.display_name},
        )
        return entry.id, events

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


def _quality_of(faces: list[SubjectFace]) -> dict[str, Any] | None:
    """The quality of the first usable frame's subject, else of the first frame with a face."""
    chosen = next((f for f in faces if f.usable), None) or next((f for f in faces if f.quality is not None), None)
    if chosen is None or chosen.quality is None:
        return None
    figures: dict[str, Any] = {k: round(v, 3) for k, v in chosen.quality.as_dict().items()}
    if chosen.issue is not None:
        figures["issue"] = chosen.issue.value
    return figures
