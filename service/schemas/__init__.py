"""Pydantic schemas: one per use (a request, a response, a query, an error body), shared by the HTTP API, the
console and the CLI. The use cases (:mod:`service.core.records`) and repositories take them, so each is mapped to
storage once; responses are built once by their ``of(...)``. Never a table row: storage has its own models."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Point = tuple[float, float]


def _storable(value: datetime) -> datetime:
    # Stored in UTC: 0001-01-01T00:00+05:00 has no UTC instant, and converting it later would be a 500.
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the instant is out of range once converted to UTC") from exc


# An instant with a time zone that has a UTC equivalent (naive datetimes are refused: whose 08:00?).
Instant = Annotated[AwareDatetime, AfterValidator(_storable)]


def visible_text(value: object) -> object:
    """``value`` in Unicode NFC, or a ValueError when it holds a control, format, surrogate, private-use or
    unassigned character, or a line/paragraph separator.

    Invisible characters (zero-width space, soft hyphen, tag characters) and direction overrides let two
    look-alike people or doors exist side by side, or a name read backwards in the log; NFC makes ``é`` typed as one
    or two code points the same text, so the uniqueness checks see them as one.
    """
    if not isinstance(value, str):
        return value
    normalised = unicodedata.normalize("NFC", value)
    for char in normalised:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise ValueError(f"U+{ord(char):04X} ({category}) is not allowed: control or invisible character")
    return normalised


def nfc(value: object) -> object:
    """``value`` in Unicode NFC (other values unchanged)."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


# After the string constraints: with a validator before them, pydantic checks min_length before it strips.
VisibleText = AfterValidator(visible_text)
NFC = AfterValidator(nfc)

# Text a person typed: NFC, no control or invisible characters (a NUL byte is refused by PostgreSQL, and none
# belongs in a name).
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
PlainText64 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_PRINTABLE), VisibleText
]
PlainText100 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_PRINTABLE), VisibleText
]
PlainText200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_PRINTABLE), VisibleText
]
# An identifier: visible, no spaces.
Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\s\x00-\x1f\x7f]+$"),
    VisibleText,
]


class Schema(BaseModel):
    """Base of every API schema: unknown fields are refused, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldError(Schema):
    """One reason a request was invalid (the request's input is never echoed back)."""

    loc: list[str | int] = Field(description="Where the error is: ('query', 'embeddings'), ('body', 'image').")
    msg: str = Field(description="What is wrong, for people.")
    type: str = Field(description="The validator's error type, for programs.")


class Problem(Schema):
    """An error, as RFC 9457 problem details (``application/problem+json``) with a stable ``code``."""

    type: str = Field(description="A URI naming the problem type (urn:facegate:problem:<code>).")
    title: str = Field(description="A short summary of the problem type.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong in this occurrence, for people.")
    instance: str | None = Field(default=None, description="The request path that failed.")
    code: str = Field(description="Stable machine-readable error code, e.g. 'image_truncated'.")
    errors: list[FieldError] | None = Field(default=None, description="Per-field errors (code 'request_invalid').")


class Liveness(Schema):
    """The process answers HTTP."""

    status: Literal["ok"] = "ok"


class Readiness(Schema):
    """The service can decide: its model is loaded, its index is built and its database answers."""

    status: Literal["ready"] = "ready"
    model_id: str = Field(description="Content hash of the loaded model package; embeddings carry it.")
    model_trained: bool = Field(description="False for an untrained placeholder: it cannot recognise anyone.")
    index_templates: int = Field(description="Templates in this replica's vector index.")
    index_revision: int = Field(description="The template revision the index reflects.")
    threshold: float = Field(description="The match threshold in force.")
    threshold_gallery_size: int = Field(description="The gallery size (templates) the threshold was derived for.")
    threshold_basis: str = Field(
        description="fpir: derived from target_fpir and the gallery size; far: fixed per-pair; override: set by hand."
    )
    target_fpir: float | None = Field(description="The tolerated false-positive identification rate per check.")
    threshold_matched: str = Field(
        description="What the threshold was derived for: the calibration tail `{probe}_vs_{templates}` "
        "(single_vs_best, single_vs_mean, ...); `max:` and the higher one's tail when template_match is max."
    )
    template_match: str = Field(description="How a person's templates are matched: best, mean or max (of both).")
    frame_fusion: str = Field(description="How several frames decide: all_agree, or fused (one mean embedding).")


class FaceQualityPublic(Schema):
    """Quality figures of one face (see :class:`models.quality.FaceQuality`)."""

    interocular_px: float = Field(description="Distance between the eye centres, in image pixels.")
    det_score: float = Field(description="Detector confidence in [0, 1].")
    blur: float = Field(description="Variance of the Laplacian of the aligned crop; higher is sharper.")
    yaw: float = Field(description="Head turn in degrees (rough, from landmarks); + turns to the image's right.")
    pitch: float = Field(description="Head tilt in degrees (rough, from landmarks); + tilts down.")
    roll: float = Field(description="Angle of the eye line, in degrees.")


class DetectedFace(Schema):
    """One face found in the uploaded image."""

    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in image pixels.")
    landmarks: Annotated[list[Point], Field(min_length=5, max_length=5)] = Field(
        description="[x, y] of the left eye, right eye, nose, left and right mouth corner (as seen in the image)."
    )
    score: float = Field(description="Detector confidence in [0, 1].")
    quality: FaceQualityPublic
    subject: bool = Field(description="True for the one face the picture is of (large and central).")
    embedding: list[float] | None = Field(
        default=None, description="Unit-norm embedding; present only when the request asked for embeddings."
    )


class ImageInfo(Schema):
    """The decoded image (after EXIF orientation)."""

    width: int
    height: int


class FaceDetectionResponse(Schema):
    """Every face in the uploaded image, most confident first; empty when there is none."""

    model_id: str
    model_trained: bool
    image: ImageInfo
    faces: list[DetectedFace]
