"""Service configuration: one pydantic-settings :class:`Settings` read from ``FACEGATE_*`` variables, and secret
ones also from files (``FACEGATE_<NAME>_FILE``, :mod:`service.config_secrets`). Everything the server, the CLI and
the container's start read from outside is a field here, checked here: a bad value is a validation error that
names its variable (:func:`describe_settings_error`). docs/OPERATIONS.md's table is generated from the fields
(``scripts/settings-table``).

:func:`get_settings` returns the process-wide instance (built on first use, then cached); tests and
embedders of the app build their own ``Settings(...)`` and pass it to :func:`service.main.create_app`.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from service.config_secrets import (
    SecretFilesSource,
    field_variable,
    parse_database_url,
    passwords_into_urls,
    secret_text,
    source_variable,
    unwrap_secret,
    weak_password,
)
from service.domain.keys import PlaceholderSecretError, check_operator_secret

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
    log_level: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    host: str = Field(
        default="127.0.0.1",
        description="Address `facegate serve` and `python -m service` bind to (the image: 0.0.0.0).",
    )
    port: int = Field(
        default=8000, ge=0, le=65535, description="Port `facegate serve` and `python -m service` listen on."
    )
    database_url: str = Field(
        default="sqlite:///./var/facegate.db",
        min_length=1,
        description="SQLAlchemy URL of the database (sqlite:///path or postgresql+psycopg://user:pw@host/db).",
    )
    database_password: SecretStr | None = Field(
        default=None,
        description="The password of database_url's login, kept out of the URL (as a file: a Docker secret); "
        "facegate puts it into the URL.",
    )
    database_owner_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL: URL of the role that owns the schema. Migrations run as it and grant database_url's "
        "role what the app needs, the access log only SELECT and INSERT. None: migrations run as database_url.",
    )
    database_owner_password: SecretStr | None = Field(
        default=None,
        description="The password of database_owner_url's role, kept out of that URL (as database_password).",
    )
    allow_insecure_db_password: bool = Field(
        default=False,
        description="Accept a database password that looks like a placeholder (shorter than 16 characters, fewer "
        "than 8 distinct ones, or containing changeme, password, postgres, secret, example or facegate): for a "
        "throwaway database only.",
    )
    db_wait_s: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="Seconds `facegate serve` and `facegate db upgrade` wait for the database server to answer "
        "before giving up (the image sets 60: its container may start before the database's).",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Upgrade the database schema at start-up (once, before the workers start). false: another "
        "container or job does; the start only waits for the database.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="uvicorn worker processes of `facegate serve` and `python -m service`; each is a replica "
        "following SQL's template revision.",
    )
    admin_key: SecretStr | None = Field(
        default=None,
        description="A first admin key (≥ 32 characters, random, no placeholder), stored hashed at start-up.",
    )

    target_far: float = Field(
        default=1e-3, gt=0, lt=1, description="False-accept rate the match threshold is read for (calibration.json)."
    )
    target_fpir: float | None = Field(
        default=1e-3,
        gt=0,
        lt=1,
        description="Tolerated false-positive identification rate per access check (a stranger let in as anyone); "
        "the threshold follows the gallery size. Empty: the fixed threshold at `FACEGATE_TARGET_FAR`. See "
        '"Thresholds that follow the gallery".',
    )
    match_threshold: float | None = Field(
        default=None, ge=-1, le=1, description="A cosine threshold that overrides the calibrated one (expert use)."
    )
    match_margin: float = Field(
        default=0.05, ge=0, le=2, description="Best person's score minus the next person's must reach this."
    )
    frame_fusion: Literal["fused", "all_agree"] = Field(
        default="all_agree",
        description="Several frames per check: `all_agree` (each frame must match the same person) or `fused` "
        "(mean embedding matched once; every frame's nearest person must be the match): lower FNIR, but the FPIR "
        "set is not held (BENCHMARKS.md, open-set).",
    )
    template_match: Literal["best", "mean", "max"] = Field(
        default="max",
        description="A person with several templates scores by their best template, their mean template (normalised "
        "mean of the templates) or the higher of the two (max: lowest FNIR at equal FPIR, BENCHMARKS.md); the "
        "threshold is read from that tail (a package without it matches by best). See 'What is matched has its own "
        "tail'.",
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

    detector_min_face_px: int | None = Field(
        default=None,
        ge=12,
        le=1000,
        description="Smallest face the detector searches for (box side, pixels). None: derived from the gate, "
        "floor(1.96 × min_interocular_px / 0.7) = 56 px for 20 px (the narrowest face box is 1.96 eye distances, "
        "MTCNN finds faces down to 0.7 of the size searched; BENCHMARKS.md): smaller sizes only find faces the "
        "gate refuses, at the detector's dearest pyramid levels.",
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # FACEGATE_<NAME>_FILE above FACEGATE_<NAME>, so that a secret given both ways is refused, not chosen.
        return init_settings, SecretFilesSource(settings_cls), env_settings, dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _passwords_into_urls(cls, data: Any) -> Any:
        return passwords_into_urls(data, default_url=cls.model_fields["database_url"].get_default())

    @field_validator("database_password", "database_owner_password", "crop_key", mode="before")
    @classmethod
    def _secret_from_file(cls, value: object) -> object:
        return unwrap_secret(value)

    @field_validator("database_owner_url", mode="before")
    @classmethod
    def _owner_url_is_a_url(cls, value: object) -> object:
        text = secret_text(value)
        if text is not None:
            parse_database_url(text, source_variable(value, "database_owner_url"))
        return unwrap_secret(value)

    @field_validator("database_url")
    @classmethod
    def _database_url_is_a_url(cls, value: str) -> str:
        parse_database_url(value, "FACEGATE_DATABASE_URL")
        return value

    @field_validator("admin_key", mode="before")
    @classmethod
    def _admin_key_is_no_placeholder(cls, value: object) -> object:
        """Refuse a short or placeholder first admin key (:func:`service.domain.keys.check_operator_secret`), so a
        deployment cannot start open to anyone who read the example configuration."""
        text = secret_text(unwrap_secret(value))
        if text is None:
            return value
        try:
            return check_operator_secret(text)
        except PlaceholderSecretError as exc:
            raise PydanticCustomError(
                "placeholder_secret",
                "{setting} refused: {reason}",
                {"setting": source_variable(value, "admin_key"), "reason": str(exc)},
            ) from None

    @model_validator(mode="after")
    def _crops_need_a_key(self) -> Settings:
        if self.keep_crops and self.crop_key is None:
            raise PydanticCustomError(
                "crop_key_missing",
                "FACEGATE_KEEP_CROPS needs FACEGATE_CROP_KEY (or FACEGATE_CROP_KEY_FILE): kept face crops are "
                "stored encrypted",
            )
        return self

    @model_validator(mode="after")
    def _no_placeholder_database_password(self) -> Settings:
        if self.allow_insecure_db_password:
            return self
        weak = self.weak_database_passwords()
        if weak:
            setting, why = weak[0]
            raise PydanticCustomError(
                "insecure_password",
                "{setting}: the database password {why}; generate one (e.g. openssl rand -base64 24) or set "
                "FACEGATE_ALLOW_INSECURE_DB_PASSWORD=1 for a throwaway database",
                {"setting": setting, "why": why},
            )
        return self

    @field_validator("index_path", "model_path", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        # FACEGATE_INDEX_PATH= (empty) means "memory only", not the current folder.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def weak_database_passwords(self) -> list[tuple[str, str]]:
        """(variable, why) for each database URL whose password looks like a placeholder; refused at validation
        unless ``allow_insecure_db_password`` (then the start warns with these)."""
        urls = [("FACEGATE_DATABASE_URL", self.database_url)]
        if self.database_owner_url is not None:
            urls.append(("FACEGATE_DATABASE_OWNER_URL", self.database_owner_url.get_secret_value()))
        found = []
        for setting, url in urls:
            why = weak_password(url)
            if why is not None:
                found.append((setting, why))
        return found

    def first_admin_key(self) -> str | None:
        """The operator-given first admin key (``FACEGATE_ADMIN_KEY`` or ``_FILE``), checked at validation."""
        return self.admin_key.get_secret_value() if self.admin_key is not None else None

    def image_limits(self) -> ImageLimits:
        """The decode guard's limits for uploaded images."""
        from models.imageio import ImageLimits

        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)

    def access_image_limits(self) -> ImageLimits:
        """The decode guard's limits for access-check frames: ``access_max_pixels`` (never above ``max_pixels``)."""
        return dataclasses.replace(self.image_limits(), max_pixels=min(self.max_pixels, self.access_max_pixels))


def describe_settings_error(exc: ValidationError) -> str:
    """A settings error as ``FACEGATE_<NAME>: what is wrong; ...``, naming the variable of each problem; the input
    is not repeated (it may be a secret)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"])
        loc = ".".join(str(part) for part in error["loc"])
        parts.append(message if message.startswith("FACEGATE_") or not loc else f"{field_variable(loc)}: {message}")
    return "; ".join(parts) or str(exc)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()
