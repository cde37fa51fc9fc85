"""One pydantic model holds a whole training run; a YAML file and ``--set key=value`` flags override it.

Every field is checked when the config is built (its type, its range, and for the choices the names the code
knows), so a wrong value fails before anything is trained, with an error that names the field. The final
config is saved as ``config.yaml`` in the run folder and inside every checkpoint, so a run can be rebuilt and
resumed from its folder alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# CelebA attributes used by the auxiliary attribute loss (the minimum set).
DEFAULT_ATTRIBUTES = ("Male", "Smiling", "Eyeglasses", "Young", "Wearing_Hat", "Mouth_Slightly_Open")

# The choices; training.losses.registry and training.model build what each names (a test keeps them equal).
MetricName = Literal["arcface", "cosface", "triplet"]
OptimizerName = Literal["sgd", "adamw"]
BlockName = Literal["basic", "bottleneck"]
DecoderName = Literal["plain", "unet"]  # "plain": the last stage only; "unet": skips from every stage
DistillName = Literal["similarity", "cosine", "regress"]
TeacherModelName = Literal["", "dlib_torch"]
InitHeadsName = Literal["fresh", "fit"]


class ConfigError(ValueError):
    """A training config that does not validate; the message names each bad key."""


class TrainConfig(BaseModel):
    """The whole run. Strict types (``epochs: many`` or ``synthetic: 1`` are refused; an int is a valid float),
    unknown keys refused, instances frozen (a run's config never changes under it)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, validate_default=True)

    # --- data
    cache: str = ""  # an aligned-face cache made by `facegate-train prepare`
    synthetic: bool = False  # random faces instead of a cache: runs end to end in seconds
    synthetic_identities: int = Field(16, ge=1)
    synthetic_per_identity: int = Field(8, ge=1)
    val_identities: int = Field(200, ge=0)  # identities held out of training for the per-epoch verification check
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    # --- model
    backbone: str = "iresnet18"  # a name in models.registry (checked below)
    width: float = Field(0.25, gt=0)
    block: BlockName = "basic"
    embedding_size: int = Field(512, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    # --- metric loss
    metric: MetricName = "arcface"
    margin: float = Field(0.5, ge=0)
    scale: float = Field(64.0, gt=0)
    # --- auxiliary losses (λ = 0 switches a term off)
    attr_weight: float = Field(0.0, ge=0)
    deep_sup_weight: float = Field(0.0, ge=0)
    recon_weight: float = Field(0.0, ge=0)
    recon_noise_std: float = Field(0.0, ge=0)  # > 0: denoising (the decoder rebuilds the clean face)
    decoder: DecoderName = "plain"
    distill_weight: float = Field(0.0, ge=0)
    # "similarity" (batch cosine matrices), "cosine" (projected embedding vs teacher's), "regress" (affine map)
    distill: DistillName = "similarity"
    teacher_cache: str = ""  # .npy of teacher embeddings, one row per cache row (training.teacher)
    teacher_model: TeacherModelName = ""  # "dlib_torch": dlib's ResNet (training.teacher_torch) on every view
    teacher_weights: str = ""  # its .dat (default: face-recognition-models' copy)
    # --- augmentation (besides the random horizontal flip)
    jitter: float = Field(0.0, ge=0)  # > 0: random shift of up to ±jitter×size and zoom of 1±jitter per face
    # training.data.augment; each probability is per face, 0 switches it off (the defaults: no change)
    aug_tight_prob: float = Field(0.0, ge=0, le=1)  # the face cut tight: bands of the service's fill
    aug_lowres_prob: float = Field(0.0, ge=0, le=1)  # down to a side in [aug_lowres_min_side, 112], back up
    aug_lowres_min_side: int = Field(28, ge=1, le=112)
    aug_colour_prob: float = Field(0.0, ge=0, le=1)  # brightness, contrast, saturation × 1 ± strength
    aug_colour_strength: float = Field(0.3, ge=0, le=1)
    aug_grey_prob: float = Field(0.0, ge=0, le=1)  # greyscale
    # --- optimisation
    optimizer: OptimizerName = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, le=1)
    weight_decay: float = Field(5e-4, ge=0)
    epochs: int = Field(10, ge=1)
    warmup_epochs: float = Field(1.0, ge=0)
    batch_size: int = Field(128, ge=1)
    # --- run
    out: str = "runs/default"
    seed: int = 0
    device: str = ""  # empty: cuda when available, else cpu; else a torch device ("cpu", "cuda:1")
    amp: bool = True  # bf16 autocast on a GPU; ignored on the CPU
    channels_last: bool = True
    log_every: int = Field(20, ge=1)
    eval_every: int = Field(1, ge=1)  # the held-out check every this many epochs (and always after the last)
    max_steps_per_epoch: int = Field(0, ge=0)  # > 0: cut epochs short (smoke tests)
    time_budget_s: float = Field(0.0, ge=0)  # > 0: train for this long; the cosine follows elapsed time
    # a checkpoint.pt, or a model package folder (its backbone), whose weights start this run (fine-tuning;
    # the optimiser starts afresh)
    init_from: str = ""
    # "fit": before the first step of a run that starts from init_from, each class centre is the mean unit
    # embedding of its faces and regress's affine map is fitted to the teacher (training.heads); "fresh": as built
    init_heads: InitHeadsName = "fresh"
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # One line listing every unknown key reads better than pydantic's one error per key.
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"unknown config keys: {', '.join(map(str, unknown))}")
        return data

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes_from_a_list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value  # YAML has lists, not tuples

    @field_validator("backbone")
    @classmethod
    def _registered_backbone(cls, value: str) -> str:
        from models.registry import list_backbones

        known = list_backbones()
        if value not in known:
            raise ValueError(f"unknown backbone {value!r}; registered: {', '.join(known)}")
        return value

    @field_validator("device")
    @classmethod
    def _torch_device(cls, value: str) -> str:
        if value:
            import torch

            try:
                torch.device(value)
            except RuntimeError as exc:
                raise ValueError(f"not a torch device: {exc}") from None
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON types (``attributes`` as a list): what ``config.yaml`` and checkpoints hold."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Defaults ← ``data``; raises :class:`ConfigError` naming each bad key."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _describe(exc: ValidationError) -> str:
    """``config key 'epochs': Input should be a valid integer (got 'many')``, one per bad key, ``; ``-separated."""
    parts = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            parts.append(message)
            continue
        key = ".".join(str(part) for part in error["loc"])
        parts.append(f"config key {key!r}: {message} (got {error['input']!r})")
    return "; ".join(parts)


def load_config(yaml_path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults ← the YAML file ← ``key=value`` overrides (values parsed as YAML scalars)."""
    data: dict[str, Any] = {}
    if yaml_path:
        loaded = yaml.safe_load(Path(yaml_path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_path}: expected a mapping of config keys")
        data.update(loaded)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not key=value")
        data[key.strip()] = yaml.safe_load(raw)
    return TrainConfig.from_dict(data)
