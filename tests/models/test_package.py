"""Model packages: save/load round trip, content-hash ids, and a typed, named failure for every kind of damage."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from models.package import (
    CALIBRATION_FILE,
    CARD_FILE,
    CONFIG_FILE,
    DEFAULT_PACKAGE_PATH,
    PACKAGE_FILES,
    WEIGHTS_FILE,
    Calibration,
    CorruptPackageError,
    MissingPackageFileError,
    ModelConfig,
    ModelPackage,
    ModelPackageError,
    PackageShapeError,
    ThresholdPoint,
    UntrainedModelWarning,
    compute_model_id,
    load_package,
    save_package,
)

CONFIG = ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.25}, embedding_size=32)
CALIBRATION = Calibration(
    calibrated=True,
    thresholds=(ThresholdPoint(far=1e-4, threshold=0.52, tar=0.81), ThresholdPoint(far=1e-3, threshold=0.41)),
    measured_on="synthetic test pairs",
    metrics={"lfw_accuracy": 0.5},
)
CARD = "# Test model\n\nMade by the test suite.\n"


def _trained_network(config: ModelConfig = CONFIG, seed: int = 0) -> torch.nn.Module:
    """A network whose BatchNorm statistics are those of real-looking batches, so eval outputs are sane."""
    torch.manual_seed(seed)
    network = config.build_network().train()
    with torch.no_grad():
        for _ in range(3):
            network(torch.randn(4, 3, config.input_size, config.input_size))
    return network.eval()


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    return _trained_network()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, network: torch.nn.Module) -> Path:
    path = tmp_path_factory.mktemp("package") / "pkg"
    save_package(path, network, CONFIG, trained=True, calibration=CALIBRATION, card=CARD, meta={"epochs": 3})
    return path


@pytest.fixture
def package_dir(saved: Path, tmp_path: Path) -> Path:
    """A fresh, editable copy of the saved package."""
    return Path(shutil.copytree(saved, tmp_path / "pkg"))


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _config_of(model_json: dict[str, Any]) -> ModelConfig:
    return ModelConfig(
        backbone=model_json["backbone"],
        backbone_cfg=model_json["backbone_cfg"],
        embedding_size=model_json["embedding_size"],
        input_size=model_json["input_size"],
        mean=tuple(model_json["normalization"]["mean"]),
        std=tuple(model_json["normalization"]["std"]),
    )


def _rewrite(
    path: Path,
    *,
    model: Callable[[dict[str, Any]], None] | None = None,
    calibration: Callable[[dict[str, Any]], None] | None = None,
    weights: bytes | None = None,
) -> None:
    """Edit a package and make its hashes and ids consistent again, so only the intended problem remains."""
    model_json = _read_json(path / CONFIG_FILE)
    calibration_json = _read_json(path / CALIBRATION_FILE)
    if weights is not None:
        (path / WEIGHTS_FILE).write_bytes(weights)
    if model is not None:
        model(model_json)
    data = (path / WEIGHTS_FILE).read_bytes()
    model_json["weights_sha256"] = hashlib.sha256(data).hexdigest()
    model_json["model_id"] = compute_model_id(_config_of(model_json), data, model_json["trained"])
    calibration_json["model_id"] = model_json["model_id"]
    if calibration is not None:
        calibration(calibration_json)
    (path / CONFIG_FILE).write_text(json.dumps(model_json))
    (path / CALIBRATION_FILE).write_text(json.dumps(calibration_json))


def _load_error(path: Path, error: type[ModelPackageError], *fragments: str) -> ModelPackageError:
    with pytest.raises(ModelPackageError) as info:
        load_package(path, warn_untrained=False)
    assert type(info.value) is error, f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"
    return info.value


# --- round trip -----------------------------------------------------------------------------------


def test_round_trip(saved: Path, network: torch.nn.Module) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a trained package loads silently
        package = load_package(saved)
    assert isinstance(package, ModelPackage)
    assert package.trained is True
    assert package.config == CONFIG
    assert package.calibration == CALIBRATION
    assert package.calibration.threshold_for(1e-3) == pytest.approx(0.41)
    assert package.card == CARD
    assert package.meta == {"epochs": 3}
    assert package.source == saved
    assert package.model_id == _read_json(saved / CONFIG_FILE)["model_id"]
    assert package.model_id == compute_model_id(CONFIG, (saved / WEIGHTS_FILE).read_bytes(), True)
    assert not package.network.training
    x = torch.randn(3, 3, 112, 112, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        original, loaded = network(x), package.network(x)
    torch.testing.assert_close(loaded, original, rtol=1e-2, atol=1e-2 * original.abs().max().item())
    cosine = torch.nn.functional.cosine_similarity(loaded, original, dim=1)
    assert cosine.min() > 0.9999, cosine


def test_weights_are_stored_in_half_precision_and_loaded_as_float32(saved: Path, network: torch.nn.Module) -> None:
    stored = load_safetensors((saved / WEIGHTS_FILE).read_bytes())
    state = network.state_dict()
    assert set(stored) == set(state)
    for name, tensor in stored.items():
        if state[name].is_floating_point():
            assert tensor.dtype == torch.float16, name
            torch.testing.assert_close(tensor, state[name].half(), rtol=0, atol=0)
        else:
            torch.testing.assert_close(tensor, state[name])  # num_batches_tracked stays an integer
    loaded = load_package(saved).network.state_dict()
    assert all(loaded[k].dtype == state[k].dtype for k in state)
    model_json = _read_json(saved / CONFIG_FILE)
    assert model_json["weights_dtype"] == "float16" and model_json["format_version"] == 1


def test_float32_weights_round_trip_exactly(tmp_path: Path, network: torch.nn.Module) -> None:
    package = save_package(
        tmp_path / "f32", network, CONFIG, trained=True, calibration=CALIBRATION, card=CARD, weights_dtype=torch.float32
    )
    for name, tensor in network.state_dict().items():
        torch.testing.assert_close(package.network.state_dict()[name], tensor, rtol=0, atol=0)


def test_save_returns_the_loaded_package(tmp_path: Path, network: torch.nn.Module) -> None:
    returned = save_package(tmp_path / "p", network, CONFIG, trained=False, calibration=Calibration(False), card="x")
    assert returned.trained is False
    assert returned.model_id == load_package(tmp_path / "p", warn_untrained=False).model_id
    assert set(p.name for p in (tmp_path / "p").iterdir()) == set(PACKAGE_FILES)


# --- model id -------------------------------------------------------------------------------------


def test_model_id_format_and_determinism(saved: Path, tmp_path: Path, network: torch.nn.Module) -> None:
    weights = (saved / WEIGHTS_FILE).read_bytes()
    model_id = compute_model_id(CONFIG, weights, True)
    assert model_id.startswith("fg1-") and len(model_id) == 20
    int(model_id[4:], 16)
    again = save_package(tmp_path / "again", network, CONFIG, trained=True, calibration=CALIBRATION, card="other")
    assert again.model_id == model_id, "the id hashes content only: the same weights and architecture"


def test_model_id_changes_with_the_weights(saved: Path, network: torch.nn.Module) -> None:
    weights = (saved / WEIGHTS_FILE).read_bytes()
    state = load_safetensors(weights)
    name = "stem.0.weight"
    state[name] = state[name].clone()
    state[name].view(-1)[0] += 1.0
    assert compute_model_id(CONFIG, save_safetensors(state), True) != compute_model_id(CONFIG, weights, True)


@pytest.mark.parametrize(
    "changed",
    [
        ModelConfig(backbone="iresnet34", backbone_cfg={"width": 0.25}, embedding_size=32),
        ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.5}, embedding_size=32),
        ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.25, "act": "relu"}, embedding_size=32),
        ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.25}, embedding_size=64),
        ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.25}, embedding_size=32, input_size=128),
        ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.25}, embedding_size=32, mean=(0.4, 0.5, 0.5)),
        ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.25}, embedding_size=32, std=(0.5, 0.5, 0.25)),
    ],
    ids=["backbone", "width", "act", "embedding", "input", "mean", "std"],
)
def test_model_id_changes_with_the_architecture(saved: Path, changed: ModelConfig) -> None:
    weights = (saved / WEIGHTS_FILE).read_bytes()
    assert compute_model_id(changed, weights, True) != compute_model_id(CONFIG, weights, True)


def test_model_id_ignores_the_order_of_cfg_keys(saved: Path) -> None:
    weights = (saved / WEIGHTS_FILE).read_bytes()
    a = ModelConfig(backbone="iresnet18", backbone_cfg={"width": 0.25, "act": "relu"}, embedding_size=32)
    b = ModelConfig(backbone="iresnet18", backbone_cfg={"act": "relu", "width": 0.25}, embedding_size=32)
    assert compute_model_id(a, weights, True) == compute_model_id(b, weights, True)


# --- damage: each kind gives its own error class and names the problem -----------------------------


@pytest.mark.parametrize("missing", PACKAGE_FILES)
def test_missing_file(package_dir: Path, missing: str) -> None:
    (package_dir / missing).unlink()
    _load_error(package_dir, MissingPackageFileError, missing)


def test_missing_package(tmp_path: Path) -> None:
    _load_error(tmp_path / "nowhere", MissingPackageFileError, "nowhere")


@pytest.mark.parametrize("name", [CONFIG_FILE, CALIBRATION_FILE])
@pytest.mark.parametrize(
    "content", [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2, 3]"], ids=["syntax", "binary", "array"]
)
def test_corrupt_json(package_dir: Path, name: str, content: bytes) -> None:
    (package_dir / name).write_bytes(content)
    _load_error(package_dir, CorruptPackageError, name)


def test_edited_weights_fail_the_sha_check(package_dir: Path) -> None:
    data = bytearray((package_dir / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF  # one bit pattern in the last tensor's data
    (package_dir / WEIGHTS_FILE).write_bytes(bytes(data))
    _load_error(package_dir, CorruptPackageError, WEIGHTS_FILE, "sha256")


def test_edited_architecture_fails_the_model_id_check(package_dir: Path) -> None:
    model_json = _read_json(package_dir / CONFIG_FILE)
    model_json["embedding_size"] = 64  # weights and sha untouched: only the id no longer matches
    (package_dir / CONFIG_FILE).write_text(json.dumps(model_json))
    _load_error(package_dir, CorruptPackageError, "model id")


@pytest.mark.parametrize(
    "weights",
    [
        b"this is not a safetensors file at all",
        b"\x05\x00\x00\x00\x00\x00\x00\x00{abc}",
        b"\x40\x00\x00\x00\x00\x00\x00\x00" + b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'.ljust(64),
    ],
    ids=["text", "bad-header-json", "data-missing"],
)
def test_weights_that_are_not_safetensors(package_dir: Path, weights: bytes) -> None:
    _rewrite(package_dir, weights=weights)  # sha and ids consistent: only the parse can fail
    _load_error(package_dir, CorruptPackageError, WEIGHTS_FILE, "safetensors")


def test_shapes_that_do_not_fit(package_dir: Path) -> None:
    _rewrite(package_dir, model=lambda m: m["backbone_cfg"].update(width=0.5))
    error = _load_error(package_dir, PackageShapeError, "shape mismatch", "head.fc.weight", "(32, 6272)", "(32, 12544)")
    assert WEIGHTS_FILE in str(error) and CONFIG_FILE in str(error)


def test_missing_and_unexpected_tensors(package_dir: Path) -> None:
    state = load_safetensors((package_dir / WEIGHTS_FILE).read_bytes())
    del state["head.fc.bias"]
    state["extra.weight"] = torch.zeros(3, dtype=torch.float16)
    _rewrite(package_dir, weights=save_safetensors(state))
    _load_error(package_dir, PackageShapeError, "missing tensors", "head.fc.bias", "unexpected tensors", "extra.weight")


def test_unknown_backbone(package_dir: Path) -> None:
    _rewrite(package_dir, model=lambda m: m.update(backbone="vit_giant"))
    _load_error(package_dir, CorruptPackageError, "vit_giant", "iresnet18", CONFIG_FILE)


def test_unbuildable_backbone_cfg(package_dir: Path) -> None:
    _rewrite(package_dir, model=lambda m: m["backbone_cfg"].update(colour="blue"))
    _load_error(package_dir, CorruptPackageError, "colour")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda m: m.update(format_version=2), "format_version"),
        (lambda m: m.pop("backbone"), "backbone"),
        (lambda m: m["normalization"].update(std=[0.5, 0.0, 0.5]), "normalization"),
        (lambda m: m["normalization"].update(mean=[0.5, 0.5]), "normalization"),
        (lambda m: m["backbone_cfg"].update(embedding_size=16), "embedding_size"),
    ],
    ids=["version", "no-backbone", "zero-std", "two-means", "cfg-clash"],
)
def test_malformed_model_json(package_dir: Path, edit: Callable[[dict[str, Any]], None], fragment: str) -> None:
    model_json = _read_json(package_dir / CONFIG_FILE)
    edit(model_json)
    (package_dir / CONFIG_FILE).write_text(json.dumps(model_json))
    _load_error(package_dir, CorruptPackageError, fragment)


def test_calibration_for_another_model(package_dir: Path) -> None:
    _rewrite(package_dir, calibration=lambda c: c.update(model_id="fg1-0000000000000000"))
    _load_error(package_dir, CorruptPackageError, CALIBRATION_FILE, "another model")


@pytest.mark.parametrize("far", [0.0, 1.0, 1.5, -0.01, "nan"])
def test_calibration_far_outside_the_open_unit_interval(package_dir: Path, far: float | str) -> None:
    _rewrite(package_dir, calibration=lambda c: c["thresholds"][0].update(far=far))
    _load_error(package_dir, CorruptPackageError, CALIBRATION_FILE, "thresholds.0.far")


@pytest.mark.parametrize("threshold", [1.01, -1.5])
def test_calibration_threshold_outside_cosine_range(package_dir: Path, threshold: float) -> None:
    _rewrite(package_dir, calibration=lambda c: c["thresholds"][0].update(threshold=threshold))
    _load_error(package_dir, CorruptPackageError, CALIBRATION_FILE, "thresholds.0.threshold")


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda c: c.update(thresholds=[]), "'calibrated' is True but it lists 0 thresholds"),
        (lambda c: c.update(calibrated="yes"), "calibrated: Input should be a valid boolean"),
        (lambda c: c["thresholds"][0].pop("far"), "thresholds.0.far: Field required"),
        (lambda c: c["thresholds"][0].update(threshold="high"), "thresholds.0.threshold"),
        (lambda c: c.update(thresholds=[None]), "thresholds.0"),
    ],
    ids=["calibrated-but-empty", "calibrated-not-bool", "no-far", "threshold-text", "null-entry"],
)
def test_malformed_calibration(package_dir: Path, edit: Callable[[dict[str, Any]], None], field: str) -> None:
    _rewrite(package_dir, calibration=edit)
    _load_error(package_dir, CorruptPackageError, CALIBRATION_FILE, field)


@pytest.mark.parametrize(
    "onnx",
    [{"file": "other.onnx", "sha256": "00"}, {"file": "embedder.onnx"}, "embedder.onnx"],
    ids=["other-file", "no-sha", "not-an-object"],
)
def test_malformed_onnx_entry_names_the_field(package_dir: Path, onnx: object) -> None:
    _rewrite(package_dir, model=lambda m: m.update(onnx=onnx))
    _load_error(package_dir, CorruptPackageError, CONFIG_FILE, "onnx")


def test_a_package_without_the_optional_keys_still_loads(package_dir: Path) -> None:
    """Packages written before ``meta``, ``onnx``, ``tar``, ``metrics``, ``measured_on`` and the impostor tail
    existed (and with keys this loader does not know) load as they did."""

    def old_model(m: dict[str, Any]) -> None:
        for key in ("meta", "onnx", "weights_dtype"):
            m.pop(key, None)
        m["written_by"] = "a newer exporter"

    def old_calibration(c: dict[str, Any]) -> None:
        for key in ("metrics", "measured_on", "impostor_tail"):
            c.pop(key, None)
        for point in c["thresholds"]:
            point.pop("tar")

    _rewrite(package_dir, model=old_model, calibration=old_calibration)
    package = load_package(package_dir, warn_untrained=False)
    assert package.meta == {} and package.onnx_graph is None and package.calibration.tail is None
    assert package.calibration.measured_on == "" and package.calibration.metrics == {}
    assert package.calibration.threshold_for(1e-3) == pytest.approx(0.41)
    assert all(p.tar is None for p in package.calibration.thresholds)


@pytest.mark.parametrize(
    ("target", "edit"),
    [
        ("calibration", lambda c: c.update(thresholds=5)),
        ("calibration", lambda c: c.update(metrics="abc")),
        ("calibration", lambda c: c.update(metrics=5)),
        ("model", lambda m: m.update(meta=5)),
        ("model", lambda m: m.update(embedding_size=-1)),
    ],
    ids=["thresholds-int", "metrics-str", "metrics-int", "meta-int", "embedding-negative"],
)
def test_wrong_json_types_give_a_package_error(package_dir: Path, target: str, edit: Callable[..., None]) -> None:
    """``load_package`` promises a ModelPackageError for every check; a wrong JSON type must not leak a
    TypeError/ValueError/RuntimeError from deep inside."""
    _rewrite(package_dir, **{target: edit})
    with pytest.raises(ModelPackageError):
        load_package(package_dir, warn_untrained=False)


# --- archives -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "zip"])
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "in-folder"])
def test_archives_load(saved: Path, tmp_path: Path, kind: str, nested: bool) -> None:
    archive = tmp_path / f"model.{kind}"
    arcname = (lambda name: f"pkg/{name}") if nested else (lambda name: name)
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in PACKAGE_FILES:
                zf.write(saved / name, arcname(name))
    else:
        with tarfile.open(archive, "w:gz" if kind == "tar.gz" else "w") as tf:
            for name in PACKAGE_FILES:
                tf.add(saved / name, arcname(name))
    package = load_package(archive)
    assert package.model_id == load_package(saved).model_id
    assert package.card == CARD and package.trained
    assert package.source == archive
    for name, tensor in load_package(saved).network.state_dict().items():
        torch.testing.assert_close(package.network.state_dict()[name], tensor, rtol=0, atol=0)


def test_archive_missing_a_file(saved: Path, tmp_path: Path) -> None:
    archive = tmp_path / "partial.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE):
            zf.write(saved / name, name)
    _load_error(archive, MissingPackageFileError, CALIBRATION_FILE)


def test_file_that_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00" * 100 + b"just bytes")
    _load_error(path, CorruptPackageError, "neither a package folder nor a zip/tar archive")


def test_truncated_archive(saved: Path, tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name in PACKAGE_FILES:
            tf.add(saved / name, name)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ModelPackageError):
        load_package(archive)


# --- the shipped default and the untrained warning ---------------------------------------------------


def test_shipped_default_package() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedModelWarning)  # a trained package loads without it
        package = load_package()
    assert package.source == DEFAULT_PACKAGE_PATH
    assert package.trained is True
    assert package.model_id in package.card.splitlines()[0]
    assert package.calibration.calibrated is True
    thresholds = [package.calibration.threshold_for(far) for far in (1e-2, 1e-3, 1e-4)]
    assert thresholds == sorted(thresholds) and 0.0 < thresholds[0] < thresholds[-1] < 1.0  # stricter FAR, higher bar
    # calibrated on identities in neither training nor the LFW benchmark (the 300 CelebA identities held out)
    assert "held out" in package.calibration.measured_on and "nor LFW" in package.calibration.measured_on
    assert package.config.embedding_size == 512 and package.config.input_size == 112
    with torch.no_grad():
        out = package.network(torch.zeros(1, 3, 112, 112))
    assert out.shape == (1, 512) and torch.isfinite(out).all()


def test_untrained_warning_only_for_untrained(package_dir: Path) -> None:
    _rewrite(package_dir, model=lambda m: m.update(trained=False))
    with pytest.warns(UntrainedModelWarning):
        load_package(package_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_package(package_dir, warn_untrained=False).trained is False


# --- Calibration ----------------------------------------------------------------------------------


def test_threshold_for() -> None:
    assert CALIBRATION.threshold_for(1e-4) == pytest.approx(0.52)
    assert CALIBRATION.threshold_for(1e-3) == pytest.approx(0.41)
    with pytest.raises(ModelPackageError, match=r"0\.0001") as info:
        CALIBRATION.threshold_for(1e-2)
    assert "0.001" in str(info.value)
    with pytest.raises(ModelPackageError, match="uncalibrated"):
        Calibration(calibrated=False).threshold_for(1e-3)


def test_calibration_json_round_trip() -> None:
    restored = Calibration.from_json(json.loads(json.dumps(CALIBRATION.to_json())))
    assert restored == CALIBRATION
    # Thresholds come back sorted by FAR whatever the file's order.
    shuffled = {"calibrated": True, "thresholds": [{"far": 0.01, "threshold": 0.3}, {"far": 0.001, "threshold": 0.4}]}
    assert [p.far for p in Calibration.from_json(shuffled).thresholds] == [0.001, 0.01]


def test_uncalibrated_package_never_yields_a_threshold() -> None:
    """A calibration.json that says "calibrated": false must not hand out a threshold, even if it lists one:
    the service relies on threshold_for raising to refuse access with an uncalibrated model."""
    data = {"calibrated": False, "thresholds": [{"far": 0.001, "threshold": 0.3}]}
    with pytest.raises(ModelPackageError):
        Calibration.from_json(data).threshold_for(0.001)


def test_threshold_values_are_numbers() -> None:
    point = Calibration.from_json({"calibrated": True, "thresholds": [{"far": "0.001", "threshold": "0.25"}]})
    assert point.threshold_for(0.001) == 0.25
    assert np.isclose(point.thresholds[0].far, 0.001)


def test_flipping_the_trained_flag_by_hand_breaks_the_model_id(saved: Path) -> None:
    model_json = _read_json(saved / CONFIG_FILE)
    model_json["trained"] = False
    (saved / CONFIG_FILE).write_text(json.dumps(model_json))
    with pytest.raises(CorruptPackageError, match="model id"):
        load_package(saved, warn_untrained=False)


# --- loading without the network (the ONNX runtime: no torch) ---------------------------------------


@pytest.fixture
def fresh(tmp_path: Path, network: torch.nn.Module) -> Path:
    """A package of its own (the module's ``saved`` is edited in place by an earlier test)."""
    path = tmp_path / "fresh"
    save_package(path, network, CONFIG, trained=True, calibration=CALIBRATION, card=CARD)
    return path


def test_a_package_loaded_without_its_network_builds_the_same_one_on_first_use(fresh: Path) -> None:
    """``network=False`` checks the hashes and ids, defers the network; the one built later is the eager one."""
    lazy = load_package(fresh, network=False)
    eager = load_package(fresh)
    assert lazy.model_id == eager.model_id and lazy._network is None
    x = torch.randn(2, 3, CONFIG.input_size, CONFIG.input_size, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        torch.testing.assert_close(lazy.network(x), eager.network(x), rtol=0, atol=0)
    assert not lazy.network.training and lazy.network is lazy.network


def test_without_the_network_edited_weights_still_fail_the_sha_check(fresh: Path) -> None:
    weights = bytearray((fresh / WEIGHTS_FILE).read_bytes())
    weights[-1] ^= 0xFF
    (fresh / WEIGHTS_FILE).write_bytes(bytes(weights))
    with pytest.raises(CorruptPackageError, match="sha256"):
        load_package(fresh, network=False)


def test_without_the_network_weights_that_are_not_safetensors_fail_at_load(fresh: Path) -> None:
    _rewrite(fresh, weights=b"this is not a safetensors file at all")
    with pytest.raises(CorruptPackageError, match="not a valid safetensors"):
        load_package(fresh, network=False)


def test_without_the_network_shapes_that_do_not_fit_fail_when_it_is_built(fresh: Path) -> None:
    """The architecture is checked against the tensors only where a network is built (the torch paths)."""
    _rewrite(fresh, model=lambda m: m["backbone_cfg"].update(width=0.5))
    package = load_package(fresh, network=False)
    with pytest.raises(PackageShapeError, match=r"head\.fc\.weight"):
        _ = package.network
