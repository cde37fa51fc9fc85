"""Everything a running facegate holds: settings, database, face model, vector index, match rule, quality gate.

:meth:`Runtime.open` builds it (the app's lifespan, and the CLI's commands that need the model, call it);
:meth:`Runtime.close` releases it. Routes reach it through :mod:`service.api.deps`; the decisions in
:mod:`service.core` take it (or its parts) as arguments, so the CLI and the HTTP API share one implementation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models.embedder import FaceEmbedder
from models.package import ModelPackage
from service.config import Settings
from service.database import open_database
from service.delivery import DeliveryConfig, WebhookSender
from service.domain.analysis import QualityGate
from service.domain.crops import CropCipher
from service.domain.matching import MatchRule
from service.domain.threshold import GalleryThreshold, ThresholdPolicy
from service.faces import load_embedder
from service.index.sync import IndexSync
from service.index.vectors import IndexConfig

logger = logging.getLogger(__name__)


def threshold_policy_for(settings: Settings, package: ModelPackage) -> ThresholdPolicy:
    """How the threshold is set for ``package``: the expert override, else the gallery-aware one at ``target_fpir``
    (when the model's calibration has an impostor tail), else the fixed per-pair threshold at ``target_far``.
    The server and ``facegate model info`` both ask here."""
    calibration = package.calibration
    policy = ThresholdPolicy(
        calibration=calibration,
        target_fpir=settings.target_fpir,
        target_far=settings.target_far,
        far_threshold=calibration.threshold_for(settings.target_far),
        override=settings.match_threshold,
        template_match=settings.template_match,
    )
    if settings.template_match != "best" and calibration.tail_for("single", "mean") is None:
        logger.warning(
            "model %s has no mean-template tail in calibration.json: people are matched by their best template",
            package.model_id,
        )
        policy = replace(policy, template_match="best")
    if settings.target_fpir is not None and calibration.tail is None and settings.match_threshold is None:
        logger.warning(
            "model %s has no impostor tail in calibration.json: the threshold stays at FAR %g whatever the gallery",
            package.model_id,
            settings.target_far,
        )
    return policy


def match_rule_for(settings: Settings, embedder: FaceEmbedder, gallery_size: int = 1) -> MatchRule:
    """The match rule (threshold in force for ``gallery_size`` templates, and the margin)."""
    threshold = threshold_policy_for(settings, embedder.package).for_gallery(gallery_size).threshold
    return MatchRule(threshold=threshold, margin=settings.match_margin)


def quality_gate_for(settings: Settings) -> QualityGate:
    return QualityGate(
        min_interocular_px=settings.min_interocular_px,
        min_det_score=settings.min_det_score,
        min_blur=settings.min_blur,
        max_yaw=settings.max_yaw,
        max_pitch=settings.max_pitch,
        several_faces_ratio=settings.several_faces_ratio,
    )


def delivery_config(settings: Settings) -> DeliveryConfig:
    """The webhook sender's behaviour from the ``webhook_*`` settings."""
    return DeliveryConfig(
        timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        backoff_base_s=settings.webhook_backoff_s,
        backoff_max_s=settings.webhook_backoff_max_s,
    )


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    embedder: FaceEmbedder
    index: IndexSync
    threshold_policy: ThresholdPolicy
    gate: QualityGate
    crop_cipher: CropCipher | None
    started_at: float
    # The webhook sender (issue 14): running in a server (``follow``) unless ``webhook_sender`` is off.
    events: WebhookSender | None = None

    @classmethod
    def open(cls, settings: Settings, *, follow: bool = True) -> Runtime:
        """Open the database, load the model, bring the index level with SQL and (``follow``) start following
        other replicas' changes. Slow (seconds)."""
        engine, factory = open_database(settings)
        try:
            embedder = load_embedder(settings)
            policy = threshold_policy_for(settings, embedder.package)
            index = IndexSync(
                factory,
                model_id=embedder.model_id,
                dim=embedder.embedding_size,
                config=IndexConfig(kind=settings.index_kind),
                path=settings.index_path,
            )
            how = index.start()
            logger.info("index %s: %s templates (%s)", settings.index_kind, index.size, how)
            if follow:
                index.run_polling(settings.index_poll_interval_s)
        except BaseException:
            engine.dispose()
            raise
        cipher = CropCipher(settings.crop_key.get_secret_value()) if settings.crop_key is not None else None
        events = None
        if follow and settings.webhook_sender:
            events = WebhookSender(factory, delivery_config(settings), poll_interval_s=settings.webhook_poll_interval_s)
            events.start()
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=factory,
            embedder=embedder,
            index=index,
            threshold_policy=policy,
            gate=quality_gate_for(settings),
            crop_cipher=cipher,
            started_at=time.time(),
            events=events,
        )

    def threshold_in_force(self, *, fused: bool = False) -> GalleryThreshold:
        """The threshold for the gallery as it is now (templates and people in the index) and a single or
        ``fused`` probe; re-derived on every call, so it follows enrolments and deletions (microseconds: a closed
        form on the stored tail)."""
        return self.threshold_policy.for_gallery(self.index.size, people=self.index.people_count, fused=fused)

    @property
    def match_rule(self) -> MatchRule:
        return MatchRule(threshold=self.threshold_in_force().threshold, margin=self.settings.match_margin)

    def close(self) -> None:
        if self.events is not None:
            self.events.stop()
        self.index.stop()
        self.engine.dispose()
