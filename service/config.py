"""Service configuration: one pydantic-settings :class:`Settings` read from ``FACEGATE_*`` variables.

:func:`get_settings` returns the process-wide instance (built on first use, then cached); tests and
embedders of the app build their own ``Settings(...)`` and pass it to :func:`service.main.create_app`.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.domain.keys import check_operator_secret

if TYPE_CHECKING:
    from models.imageio import ImageLimits  # numpy and PIL: not for the commands that only read settings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything the service can be told from outside, each field read from ``FACEGATE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_", extra="ignore", frozen=True)

    model_path: Path | None = Field(
        default=None, description="Model package folder or archive; None: the package shipped in models/packages."
    )
    device: str | None = Field(default=None, description="torch device ('cpu', 'cuda:0'); None: GPU when present.")
    torch_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Threads per torch operation. 1: concurrent requests spread over the cores instead of "
        "fighting over them (measured faster on 2 cores under load).",
    )
    flip_tta: bool = Field(default=False, description="Add the mirrored face's embedding (slower, a bit more robust).")
    inference_runtime: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="onnx: MTCNN and the embedder on ONNX Runtime (the package's embedder.onnx; ~2× faster on a "
        "CPU, the same faces and embeddings); torch: PyTorch, the reference the graphs are checked against. "
        "ONNX Runtime uses torch_threads intra-op threads too.",
    )
    detect_max_pixels: int = Field(
        default=1_000_000,
        ge=10_000,
        description="Frames larger than this are scaled down (antialiased) before detection, so a 36 MP photo "
        "costs about what a 1 MP one does; the smallest face found becomes detector_min_face_px / s original "
        "pixels for the scale s = sqrt(detect_max_pixels / pixels).",
    )
    access_max_pixels: int = Field(
        default=8_000_000,
        gt=0,
        description="Largest accepted access-check frame, in pixels (enrolment photos: max_pixels). A door "
        "camera's frames are small; a larger frame is refused (413 image_too_large) before it is decoded.",
    )
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest accepted image upload.")
    max_pixels: int = Field(default=40_000_000, gt=0, description="Largest accepted image, in pixels (W × H).")
    max_images_per_request: int = Field(
        default=8, ge=1, le=64, description="Images (enrolment) or frames (access check) one request may carry."
    )
    log_level: LogLevel = "INFO"
    host: str = Field(default="127.0.0.1", description="Address `python -m service` binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `python -m service` listens on.")
    database_url: str = Field(
        default="sqlite:///./var/facegate.db",
        min_length=1,
        description="SQLAlchemy URL of the database (sqlite:///path or postgresql+psycopg://user:pw@host/db).",
    )
    database_owner_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL: URL of the role that owns the schema. Migrations run as it and grant database_url's "
        "role what the app needs, the access log only SELECT and INSERT. None: migrations run as database_url.",
    )
    migrate_on_start: bool = Field(default=True, description="Upgrade the database schema at start-up.")
    admin_key: SecretStr | None = Field(
        default=None, description="A first admin key (≥ 32 characters, no placeholder), stored hashed at start-up."
    )
    admin_key_file: Path | None = Field(
        default=None, description="A file holding the first admin key (a Docker secret: /run/secrets/...)."
    )

    target_far: float = Field(
        default=1e-3, gt=0, lt=1, description="False-accept rate the match threshold is read for (calibration.json)."
    )
    target_fpir: float | None = Field(
        default=1e-3,
        gt=0,
        lt=1,
        description="Tolerated false-positive identification rate per access check (a stranger let in as anyone); "
        "the threshold follows the gallery size (empty: the fixed threshold at target_far).",
    )
    match_threshold: float | None = Field(
        default=None, ge=-1, le=1, description="A cosine threshold that overrides the calibrated one (expert use)."
    )
    match_margin: float = Field(
        default=0.05, ge=0, le=2, description="Best person's score minus the next person's must reach this."
    )
    frame_fusion: Literal["fused", "all_agree"] = Field(
        default="all_agree",
        description="Several frames per check: all_agree (each frame must match the same person) or fused (mean "
        "embedding matched once: lower FNIR, but the FPIR set is not held; BENCHMARKS.md, open-set).",
    )
    top_k: int = Field(default=5, ge=1, le=100, description="People the index returns per face before matching.")

    index_kind: Literal["flat", "hnsw", "ivf"] = Field(
        default="flat", description="flat: exact search (to ~10^5 templates); hnsw or ivf: approximate, for more."
    )
    index_path: Path | None = Field(
        default=Path("var/index.fgi"), description="Where the index is persisted (a cache of SQL); None: memory only."
    )
    index_poll_interval_s: float = Field(
        default=0.5, gt=0, description="How often a replica checks SQL's template revision for others' changes."
    )

    detector_min_face_px: int = Field(
        default=40,
        ge=12,
        le=1000,
        description="Smallest face the detector searches for (box side, pixels). Faces under ~45 px fail the "
        "min_interocular_px gate anyway; searching for them costs most of the detector's time.",
    )
    detector_scale_factor: float = Field(
        default=0.709,
        gt=0.3,
        lt=0.95,
        description="Ratio between the detector's image-pyramid levels (MTCNN's 0.709). 0.6 is 25% faster on "
        "640×480 frames but leaves gaps between face sizes: 7 of AT&T's 400 faces were missed (BENCHMARKS.md).",
    )
    min_interocular_px: float = Field(default=20.0, ge=0, description="Smallest eye distance accepted, in pixels.")
    min_det_score: float = Field(default=0.90, ge=0, le=1, description="Lowest detector confidence accepted.")
    min_blur: float = Field(default=15.0, ge=0, description="Lowest sharpness (Laplacian variance) accepted.")
    max_yaw: float = Field(default=40.0, gt=0, le=90, description="Largest head turn accepted, in degrees.")
    max_pitch: float = Field(default=35.0, gt=0, le=90, description="Largest head tilt accepted, in degrees.")
    several_faces_ratio: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="At enrolment, a second face this large (eye distance, relative to the subject) is refused.",
    )
    keep_crops: bool = Field(
        default=False, description="Keep each template's aligned 112×112 crop (encrypted) to re-embed for a new model."
    )
    crop_key: SecretStr | None = Field(
        default=None,
        description="Encryption key for kept crops (Fernet, urlsafe base64 of 32 bytes); needed with keep_crops.",
    )

    rate_limit_per_minute: int = Field(default=600, ge=0, description="Requests per minute per API key; 0: no limit.")
    rate_limit_burst: int = Field(default=60, ge=1, description="Requests a key may send at once before the limit.")
    auth_failures_per_minute: int = Field(
        default=30,
        ge=0,
        description="Failed authentications per minute per client address before it is refused (429); 0: no limit.",
    )
    auth_failures_burst: int = Field(
        default=10, ge=1, description="Failed authentications a client address may make at once before the limit."
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Longest wait for the next part of a request body (408 body_timeout)."
    )

    # -- decision events (webhooks) and the web console (issue 14) --
    webhook_sender: bool = Field(
        default=True, description="Run the webhook sender in the server (off: `facegate webhooks deliver`)."
    )
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60, description="Time limit of one webhook attempt.")
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts before a webhook event is marked dead (re-sendable)."
    )
    webhook_backoff_s: float = Field(
        default=2.0, gt=0, le=3600, description="First retry delay of a failed webhook; doubles on each retry."
    )
    webhook_backoff_max_s: float = Field(default=600.0, gt=0, le=86400, description="Longest retry delay.")
    webhook_poll_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often the sender looks for due events when no decision woke it."
    )
    console_session_ttl_s: int = Field(
        default=8 * 3600, ge=60, le=7 * 86400, description="How long a console sign-in lasts."
    )
    kiosk_session_ttl_s: int = Field(
        default=30 * 86400, ge=60, le=366 * 86400, description="How long a door kiosk's sign-in lasts."
    )
    console_secure_cookie: bool | None = Field(
        default=None,
        description="Mark the console cookie Secure; None: when the request came over https (set true behind a "
        "TLS-terminating proxy that forwards plain http).",
    )

    @model_validator(mode="after")
    def _crops_need_a_key(self) -> Settings:
        if self.keep_crops and self.crop_key is None:
            raise ValueError("keep_crops needs crop_key (FACEGATE_CROP_KEY): kept face crops are stored encrypted")
        return self

    @field_validator("index_path", "model_path", "admin_key_file", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        # FACEGATE_INDEX_PATH= (empty) means "memory only", not the current folder.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def first_admin_key(self) -> str | None:
        """The operator-given first admin key (``admin_key``, else the file ``admin_key_file``), checked.

        Raises :class:`service.domain.keys.PlaceholderSecretError` for a short or placeholder secret, so a
        deployment cannot start open to anyone who read the example configuration.
        """
        if self.admin_key is not None:
            secret = self.admin_key.get_secret_value()
        elif self.admin_key_file is not None:
            secret = self.admin_key_file.read_text(encoding="utf-8")
        else:
            return None
        return check_operator_secret(secret)

    def image_limits(self) -> ImageLimits:
        """The decode guard's limits for uploaded images."""
        from models.imageio import ImageLimits

        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)

    def access_image_limits(self) -> ImageLimits:
        """The decode guard's limits for access-check frames: ``access_max_pixels`` (never above ``max_pixels``)."""
        return dataclasses.replace(self.image_limits(), max_pixels=min(self.max_pixels, self.access_max_pixels))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()
