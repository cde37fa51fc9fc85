"""The model package's two JSON files as pydantic models: ``model.json`` and ``calibration.json``.

These models say what each file may hold; :mod:`models.package` turns them into the dataclasses the rest of
the code uses (``ModelConfig``, ``Calibration``) and checks what no single file can (hashes, the model id).
A file that does not fit raises :class:`PackageJsonError`, whose message names the file and every bad field
(``model.json: normalization.std.1: Input should be greater than 0``).

Keys a file does not know are ignored, so a package written by a newer exporter (an extra entry in
``model.json``) still loads; keys that were added later (``onnx``, ``meta``, ``impostor_tail``, ``tar``) are
optional, so packages written before them load as they did.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, model_validator

FORMAT_VERSION: Final = 1
CONFIG_FILE: Final = "model.json"
CALIBRATION_FILE: Final = "calibration.json"
ONNX_FILE: Final = "embedder.onnx"

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class PackageJsonError(ValueError):
    """A package JSON file that does not fit its schema; the message names the file and each bad field."""


class _Schema(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Normalization(_Schema):
    """Per-channel ``(x − mean) / std`` on RGB in [0, 1]."""

    mean: tuple[FiniteFloat, FiniteFloat, FiniteFloat]
    std: tuple[PositiveFloat, PositiveFloat, PositiveFloat]


class OnnxEntry(_Schema):
    """``model.json``'s record of the package's ONNX graph (``facegate-train export-onnx`` writes it)."""

    file: Literal["embedder.onnx"]
    sha256: StrictStr
    opset: int | None = None
    exporter: str = ""


class ModelJson(_Schema):
    """``model.json``: the architecture, its input, the weights' hash and the content-hash model id."""

    format_version: Literal[1]
    model_id: StrictStr
    trained: StrictBool
    backbone: StrictStr
    backbone_cfg: dict[str, Any]
    embedding_size: int = Field(gt=0)
    input_size: int = Field(gt=0)
    normalization: Normalization
    weights_sha256: StrictStr
    meta: dict[str, Any] = Field(default_factory=dict)
    onnx: OnnxEntry | None = None

    @model_validator(mode="after")
    def _sizes_at_the_top(self) -> ModelJson:
        # The loader passes both sizes to the backbone itself; a second copy in backbone_cfg would clash.
        clash = sorted({"embedding_size", "input_size"} & set(self.backbone_cfg))
        if clash:
            raise ValueError(f"{clash} belong at the top level, not in backbone_cfg")
        return self


class ThresholdJson(_Schema):
    """A cosine threshold whose false-accept rate was measured at ``far`` (and its true-accept rate)."""

    far: float = Field(gt=0, lt=1, allow_inf_nan=False)
    threshold: float = Field(ge=-1, le=1, allow_inf_nan=False)
    tar: FiniteFloat | None = None


class DomainFactorJson(_Schema):
    """How many times a second held-out set's per-pair FAR ran above the tail's, and that set."""

    factor: float = Field(ge=1.0, allow_inf_nan=False)
    measured_on: str = ""


class CalibrationJson(_Schema):
    """``calibration.json``: thresholds per target FAR, where they were measured, the impostor tail."""

    model_id: StrictStr | None = None  # the loader compares it with model.json's
    calibrated: StrictBool
    thresholds: list[ThresholdJson] = Field(default_factory=list)
    measured_on: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict)
    # Read by models.tail.ImpostorTail.from_json, which owns its checks; absent in older packages.
    impostor_tail: dict[str, Any] | None = None
    # The tails of what else a door matches (models.package.Calibration.tails), each read the same way.
    impostor_tails: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The per-comparison FAR's divisor for another photo domain (Calibration.domain_factor); absent: 1.
    domain_factor: DomainFactorJson | None = None

    @model_validator(mode="after")
    def _calibrated_means_thresholds(self) -> CalibrationJson:
        if self.calibrated != bool(self.thresholds):
            raise ValueError(f"'calibrated' is {self.calibrated} but it lists {len(self.thresholds)} thresholds")
        return self


S = TypeVar("S", bound=BaseModel)


def validate_json(schema: type[S], data: Any, file: str) -> S:
    """``data`` (parsed JSON) as ``schema``; raises :class:`PackageJsonError` naming ``file`` and each bad field."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise PackageJsonError(f"{file}: {describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    """One line for all of a validation's errors: ``field.path: message`` each, ``; ``-separated."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
