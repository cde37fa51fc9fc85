"""One dataclass holds a whole training run; a YAML file and ``--set key=value`` flags override it.

The final config is saved as ``config.yaml`` in the run folder and inside every checkpoint, so a
run can be rebuilt and resumed from its folder alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# CelebA attributes used by the auxiliary attribute loss (the minimum set).
DEFAULT_ATTRIBUTES = ("Male", "Smiling", "Eyeglasses", "Young", "Wearing_Hat", "Mouth_Slightly_Open")


@dataclass
class TrainConfig:
    # --- data
    cache: str = ""  # an aligned-face cache made by `python -m training prepare`
    synthetic: bool = False  # random faces instead of a cache: runs end to end in seconds
    synthetic_identities: int = 16
    synthetic_per_identity: int = 8
    val_identities: int = 200  # identities held out of training for the per-epoch verification check
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    # --- model
    backbone: str = "iresnet18"
    width: float = 0.25
    block: str = "basic"
    embedding_size: int = 512
    dropout: float = 0.0
    # --- metric loss
    metric: str = "arcface"
    margin: float = 0.5
    scale: float = 64.0
    # --- auxiliary losses (λ = 0 switches a term off)
    attr_weight: float = 0.0
    deep_sup_weight: float = 0.0
    recon_weight: float = 0.0
    recon_noise_std: float = 0.0  # > 0: denoising (the decoder rebuilds the clean face from a noised input)
    decoder: str = "plain"  # the reconstruction decoder: "plain" (last stage only) or "unet" (skips from every stage)
    distill_weight: float = 0.0
    distill: str = "similarity"  # "similarity" (batch cosine matrices) or "cosine" (projected embedding vs teacher's)
    teacher_cache: str = ""  # .npy of teacher embeddings, one row per cache row (training.teacher)
    teacher_model: str = ""  # "dlib_torch": dlib's ResNet (training.teacher_torch) run on every augmented view
    teacher_weights: str = ""  # its .dat (default: face-recognition-models' copy)
    # --- augmentation (besides the random horizontal flip)
    jitter: float = 0.0  # > 0: random shift of up to ±jitter×size and zoom of 1±jitter per face
    # training.data.augment; each probability is per face, 0 switches it off (the defaults: no change)
    aug_tight_prob: float = 0.0  # the face cut tight: bands of the service's outside fill (models.framing)
    aug_lowres_prob: float = 0.0  # down to a random side in [aug_lowres_min_side, 112] and back up
    aug_lowres_min_side: int = 28
    aug_colour_prob: float = 0.0  # brightness, contrast, saturation × 1 ± aug_colour_strength
    aug_colour_strength: float = 0.3
    aug_grey_prob: float = 0.0  # greyscale
    # --- optimisation
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 10
    warmup_epochs: float = 1.0
    batch_size: int = 128
    # --- run
    out: str = "runs/default"
    seed: int = 0
    device: str = ""  # empty: cuda when available, else cpu
    amp: bool = True  # bf16 autocast on a GPU; ignored on the CPU
    channels_last: bool = True
    log_every: int = 20
    eval_every: int = 1  # the held-out check every this many epochs (and always after the last)
    max_steps_per_epoch: int = 0  # > 0: cut epochs short (smoke tests)
    time_budget_s: float = 0.0  # > 0: train for this long; the cosine follows elapsed time, `epochs` is a cap
    init_from: str = ""  # a checkpoint.pt whose weights start this run (fine-tuning; the optimiser starts afresh)
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["attributes"] = list(self.attributes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        values = dict(data)
        if "attributes" in values:
            values["attributes"] = tuple(values["attributes"])
        return cls(**values)

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def load_config(yaml_path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults ← the YAML file ← ``key=value`` overrides (values parsed as YAML scalars)."""
    data: dict[str, Any] = {}
    if yaml_path:
        loaded = yaml.safe_load(Path(yaml_path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{yaml_path}: expected a mapping of config keys")
        data.update(loaded)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        data[key.strip()] = yaml.safe_load(raw)
    config = TrainConfig.from_dict(data)
    _check_types(config)
    return config


def _check_types(config: TrainConfig) -> None:
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        expected = type(f.default) if f.default is not dataclasses.MISSING else tuple
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))
            continue
        if not isinstance(value, expected):
            raise ValueError(f"config key {f.name!r} must be {expected.__name__}, got {value!r}")
