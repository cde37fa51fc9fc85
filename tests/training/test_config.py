"""TrainConfig: a pydantic model whose choices are the names the code builds, and whose errors name the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pydantic
import pytest

from models.package import DEFAULT_PACKAGE_PATH
from models.registry import list_backbones
from training.config import (
    BlockName,
    ConfigError,
    DecoderName,
    DistillName,
    MetricName,
    OptimizerName,
    TeacherModelName,
    TrainConfig,
    load_config,
)
from training.losses import list_metric_losses

EXPERIMENTS = Path(__file__).resolve().parents[2] / "training" / "experiments"


def test_the_metric_choices_are_the_registered_losses() -> None:
    assert sorted(get_args(MetricName)) == list_metric_losses()


@pytest.mark.parametrize(
    ("key", "choices"),
    [
        ("metric", MetricName),
        ("optimizer", OptimizerName),
        ("block", BlockName),
        ("decoder", DecoderName),
        ("distill", DistillName),
        ("teacher_model", TeacherModelName),
    ],
)
def test_every_choice_is_checked_and_the_error_names_the_key(key: str, choices: Any) -> None:
    for choice in get_args(choices):
        assert getattr(load_config(None, [f"{key}={json.dumps(choice)}"]), key) == choice
    with pytest.raises(ConfigError, match=rf"config key '{key}': Input should be .*\(got 'nonsense'\)"):
        load_config(None, [f"{key}=nonsense"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("backbone=vit_giant", "config key 'backbone': unknown backbone 'vit_giant'; registered: "),
        ("device=gpu0", "config key 'device': not a torch device"),
        ("epochs=0", "config key 'epochs': Input should be greater than or equal to 1"),
        ("epochs=2.5", "config key 'epochs': Input should be a valid integer"),
        ("lr=-0.1", "config key 'lr': Input should be greater than 0"),
        ("aug_grey_prob=1.5", "config key 'aug_grey_prob': Input should be less than or equal to 1"),
        ("synthetic=1", "config key 'synthetic': Input should be a valid boolean"),  # no truthy ints
        ("cache=", "config key 'cache': Input should be a valid string"),  # YAML's empty value is null
        ("attributes=Male", "config key 'attributes': Input should be a valid tuple"),
    ],
)
def test_bad_values_are_refused_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value)


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["epochs=many", "metric=sphereface"])
    assert "'epochs'" in str(info.value) and "'metric'" in str(info.value)
    with pytest.raises(ConfigError, match="unknown config keys: colour, nonsense"):
        load_config(None, ["nonsense=1", "colour=blue"])


def test_the_registered_backbones_are_accepted() -> None:
    for name in list_backbones():
        assert TrainConfig(backbone=name).backbone == name


def test_direct_construction_is_checked_too_and_configs_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError, match="decoder"):
        TrainConfig(decoder="ladder")  # type: ignore[arg-type]  # the point: a value the type refuses
    config = TrainConfig()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.lr = 0.5  # type: ignore[misc]  # the point: assignment is refused


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = load_config(None, ["width=1", "attributes=[Male, Young]", "device=cuda:1", "metric=cosface"])
    assert isinstance(config.width, float) and config.attributes == ("Male", "Young")
    config.save(tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["attributes"] == ["Male", "Young"]  # plain YAML/JSON types


def test_a_yaml_file_that_is_not_a_mapping_and_an_override_without_a_value(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- epochs\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="not key=value"):
        load_config(None, ["epochs"])


@pytest.mark.parametrize(
    "path",
    [
        EXPERIMENTS / "cpu_r18w025.yaml",
        EXPERIMENTS / "cpu_r18w025_kd.yaml",
        EXPERIMENTS / "cpu_finetune_views.yaml",
        EXPERIMENTS / "gpu" / "base.yaml",
    ],
    ids=lambda p: p.name,
)
def test_the_shipped_experiment_files_load(path: Path) -> None:
    load_config(path)


def test_the_shipped_models_training_config_loads_and_a_config_that_predates_later_keys_too() -> None:
    """A checkpoint's config (``export`` rebuilds it) may predate keys added since: they take their defaults."""
    saved = json.loads((DEFAULT_PACKAGE_PATH / "model.json").read_text())["meta"]["train_config"]
    config = TrainConfig.from_dict(saved)
    assert (config.metric, config.distill, config.teacher_model, config.init_heads) == (
        "cosface",
        "regress",
        "dlib_torch",
        "fit",
    )
    # The previous shipped model's config had none of these keys (written before they existed).
    older = {k: v for k, v in saved.items() if k not in ("teacher_model", "aug_grey_prob", "init_heads", "init_from")}
    config = TrainConfig.from_dict(older)
    assert (config.teacher_model, config.aug_grey_prob, config.init_heads, config.init_from) == ("", 0, "fresh", "")
