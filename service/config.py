"""Service configuration: one pydantic-settings :class:`Settings` read from ``FACEGATE_*`` variables.

:func:`get_settings` returns the process-wide instance (built on first use, then cached); tests and
embedders of the app build their own ``Settings(...)`` and pass it to :func:`service.main.create_app`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.imageio import ImageLimits

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything the service can be told from outside, each field read from ``FACEGATE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_", extra="ignore", frozen=True)

    model_path: Path | None = Field(
        default=None, description="Model package folder or archive; None: the package shipped in models/packages."
    )
    device: str | None = Field(default=None, description="torch device ('cpu', 'cuda:0'); None: GPU when present.")
    flip_tta: bool = Field(default=False, description="Add the mirrored face's embedding (slower, a bit more robust).")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest accepted image upload.")
    max_pixels: int = Field(default=40_000_000, gt=0, description="Largest accepted image, in pixels (W × H).")
    log_level: LogLevel = "INFO"
    host: str = Field(default="127.0.0.1", description="Address `python -m service` binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `python -m service` listens on.")
    database_url: str = Field(
        default="sqlite:///./var/facegate.db",
        min_length=1,
        description="SQLAlchemy URL of the database (sqlite:///path or postgresql+psycopg://user:pw@host/db).",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def image_limits(self) -> ImageLimits:
        """The decode guard's limits for uploaded images."""
        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()
