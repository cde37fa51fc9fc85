"""The model package: the one artefact that carries a face model from training to the service.

A folder (or a ``.tar``/``.tar.gz``/``.zip`` archive of one) holding

- ``weights.safetensors``: the backbone's state dict (inference parts only);
- ``model.json``: architecture (registry name + config), input size, normalisation, embedding
  size, whether the weights are trained, the weights' sha256 and the model id;
- ``calibration.json``: cosine thresholds per target false-accept rate and how they were measured;
- ``MODEL_CARD.md``: training data, licences, figures, limits;
- ``embedder.onnx`` (optional): the same network as an ONNX graph for ONNX Runtime; ``model.json``'s
  ``onnx`` entry names it with its sha256 (``facegate-train export-onnx`` writes both). It is not part of
  the model id: it is a second encoding of the same weights, checked against them by the parity tests.

PyTorch is needed only to build the network (``ModelPackage.network``, built on first use unless
``load_package(..., network=True)``, the default) and to save a package: ``load_package(path, network=False)``
checks the hashes and the model id and hands the ONNX graph to ONNX Runtime without importing torch.

The model id is a content hash of the architecture section and the weights, so any change to
either gives a new id, and templates made by one model are never compared with another's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tarfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from safetensors import SafetensorError

from models.calibration import Calibration, ThresholdPoint
from models.package_errors import (
    CorruptPackageError,
    MissingPackageFileError,
    ModelPackageError,
    PackageShapeError,
    RuntimeUnavailableError,
    UntrainedModelWarning,
    require_torch,
    validate_file,
)
from models.package_schema import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    FORMAT_VERSION,
    ONNX_FILE,
    ModelJson,
)

if TYPE_CHECKING:  # torch is imported where a network is built or run, never by the ONNX path
    import torch
    from torch import nn

logger = logging.getLogger(__name__)
WEIGHTS_FILE: Final = "weights.safetensors"
CARD_FILE: Final = "MODEL_CARD.md"
PACKAGE_FILES: Final = (WEIGHTS_FILE, CONFIG_FILE, CALIBRATION_FILE, CARD_FILE)
OPTIONAL_FILES: Final = (ONNX_FILE,)

DEFAULT_PACKAGE_PATH: Final = Path(__file__).resolve().parent / "packages" / "default"


@dataclass(frozen=True)
class ModelConfig:
    """What ``model.json`` says about the network and its input."""

    backbone: str
    backbone_cfg: dict[str, Any]
    embedding_size: int
    input_size: int = 112
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def architecture(self) -> dict[str, Any]:
        """The part of the config that the model id hashes (everything that shapes the output)."""
        return {
            "backbone": self.backbone,
            "backbone_cfg": self.backbone_cfg,
            "embedding_size": self.embedding_size,
            "input_size": self.input_size,
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
        }

    def build_network(self) -> nn.Module:
        """A fresh (untrained) network of this architecture (needs PyTorch)."""
        require_torch("building the network")
        from models.registry import build_backbone

        return build_backbone(
            self.backbone, embedding_size=self.embedding_size, input_size=self.input_size, **self.backbone_cfg
        )


@dataclass
class ModelPackage:
    """A loaded package: everything the package says about the network, and the network itself in eval mode
    (:attr:`network`: built from ``weights`` on first use, which needs PyTorch)."""

    config: ModelConfig
    model_id: str
    trained: bool
    calibration: Calibration
    card: str
    meta: dict[str, Any]
    source: Path | None = None
    onnx_graph: bytes | None = None
    """The network as an ONNX graph (``embedder.onnx``, hash-checked), when the package carries one."""
    weights: bytes = field(default=b"", repr=False)
    """``weights.safetensors`` as read (its sha256 checked)."""
    _network: nn.Module | None = field(default=None, repr=False)

    @property
    def network(self) -> nn.Module:
        """The network with the package's weights, in eval mode on the CPU; built (and its tensors' names and
        shapes checked against the architecture) on first use. Raises :class:`RuntimeUnavailableError` without
        PyTorch, a :class:`ModelPackageError` when the weights do not fit."""
        if self._network is None:
            self._network = _build_network(self.config, self.weights, self.source)
        return self._network


def compute_model_id(config: ModelConfig, weights_bytes: bytes, trained: bool) -> str:
    """``fg1-`` + the first 16 hex digits of sha256(architecture JSON ‖ sha256(weights)).

    The ``trained`` flag is part of the hashed JSON, so flipping it by hand breaks the id.
    """
    arch = json.dumps({**config.architecture(), "trained": trained}, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(arch + hashlib.sha256(weights_bytes).digest()).hexdigest()
    return f"fg1-{digest[:16]}"


def save_package(
    path: str | Path,
    network: nn.Module,
    config: ModelConfig,
    *,
    trained: bool,
    calibration: Calibration,
    card: str,
    weights_dtype: torch.dtype | None = None,
    meta: dict[str, Any] | None = None,
) -> ModelPackage:
    """Write ``network``'s weights and the metadata as a package folder at ``path``.

    Floating-point weights are stored as ``weights_dtype`` (``None``: ``torch.float16``; half precision halves
    the size; the loader casts back to float32) and the package is reloaded and checked before returning.
    """
    require_torch("saving a model package")
    import torch
    from safetensors.torch import save as save_safetensors

    weights_dtype = torch.float16 if weights_dtype is None else weights_dtype
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to("cpu", weights_dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in network.state_dict().items()
    }
    weights = save_safetensors(state)
    model_id = compute_model_id(config, weights, trained)
    model_json = {
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "trained": trained,
        **config.architecture(),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "weights_dtype": str(weights_dtype).removeprefix("torch."),
        "meta": meta or {},
    }
    (path / WEIGHTS_FILE).write_bytes(weights)
    (path / CONFIG_FILE).write_text(json.dumps(model_json, indent=2) + "\n")
    (path / CALIBRATION_FILE).write_text(json.dumps({"model_id": model_id, **calibration.to_json()}, indent=2) + "\n")
    (path / CARD_FILE).write_text(card)
    return load_package(path, warn_untrained=False)


def load_package(
    path: str | Path | None = None,
    device: str | torch.device = "cpu",
    *,
    warn_untrained: bool = True,
    network: bool = True,
) -> ModelPackage:
    """Load and validate the package at ``path`` (the shipped default when ``None``).

    Every check fails with a :class:`ModelPackageError` that names the file and the problem:
    a missing file, unreadable JSON, a wrong hash (corrupt or edited weights), an unknown
    backbone, or weights whose names or shapes do not fit the architecture. ``network=False`` skips building
    the network (and so PyTorch): the hashes, the model id, the calibration, the ONNX graph and the safetensors
    header are still checked; the architecture and the tensors' shapes are checked when :attr:`ModelPackage.network`
    is first used (the ONNX runtime never uses it).
    """
    source = Path(path) if path is not None else DEFAULT_PACKAGE_PATH
    files = _read_files(source)
    model_json = validate_file(ModelJson, _parse_json(files[CONFIG_FILE], CONFIG_FILE), CONFIG_FILE)
    config = _config_from_json(model_json)
    weights = files[WEIGHTS_FILE]

    if hashlib.sha256(weights).hexdigest() != model_json.weights_sha256:
        raise CorruptPackageError(f"{source}: {WEIGHTS_FILE} does not match the sha256 in {CONFIG_FILE}")
    trained = model_json.trained
    model_id = compute_model_id(config, weights, trained)
    if model_id != model_json.model_id:
        raise CorruptPackageError(f"{source}: model id {model_json.model_id!r} does not match the content ({model_id})")
    calibration_json = _parse_json(files[CALIBRATION_FILE], CALIBRATION_FILE)
    if calibration_json.get("model_id") != model_id:
        raise CorruptPackageError(f"{source}: {CALIBRATION_FILE} was measured for another model")
    calibration = Calibration.from_json(calibration_json)
    onnx_graph = _onnx_graph(model_json, files, source)

    package = ModelPackage(
        config=config,
        model_id=model_id,
        trained=trained,
        calibration=calibration,
        card=files[CARD_FILE].decode("utf-8", errors="replace"),
        meta=dict(model_json.meta),
        source=source,
        onnx_graph=onnx_graph,
        weights=weights,
    )
    if network:
        package.network.to(device)
    else:
        _check_safetensors(weights, source)
    if not trained and warn_untrained:
        message = (
            f"model package {source} ({model_id}) is UNTRAINED: its weights are random and its "
            "embeddings cannot tell people apart. Use it only to exercise the pipeline."
        )
        logger.warning("!" * 20 + " %s " + "!" * 20, message)
        warnings.warn(message, UntrainedModelWarning, stacklevel=2)
    return package


def _onnx_graph(model_json: ModelJson, files: dict[str, bytes], source: Path) -> bytes | None:
    """The package's ONNX graph, checked against the sha256 ``model.json`` records; ``None`` when it lists none.
    A graph on disk that ``model.json`` does not list is ignored (nothing vouches for it)."""
    entry = model_json.onnx
    if entry is None:
        return None
    graph = files.get(ONNX_FILE)
    if graph is None:
        raise MissingPackageFileError(f"{source}: {CONFIG_FILE} lists {ONNX_FILE} but the package lacks it")
    if hashlib.sha256(graph).hexdigest() != entry.sha256:
        raise CorruptPackageError(f"{source}: {ONNX_FILE} does not match the sha256 in {CONFIG_FILE}")
    return graph


def record_onnx_graph(path: str | Path, graph: bytes, *, opset: int, exporter: str) -> None:
    """Write ``graph`` as the package folder's ``embedder.onnx`` and record it (file, sha256, opset, exporter) in
    its ``model.json``. The model id does not change: the graph encodes the same weights."""
    folder = Path(path)
    model_json = _parse_json((folder / CONFIG_FILE).read_bytes(), CONFIG_FILE)
    (folder / ONNX_FILE).write_bytes(graph)
    model_json["onnx"] = {
        "file": ONNX_FILE,
        "sha256": hashlib.sha256(graph).hexdigest(),
        "opset": opset,
        "exporter": exporter,
    }
    (folder / CONFIG_FILE).write_text(json.dumps(model_json, indent=2) + "\n")


def _read_files(source: Path) -> dict[str, bytes]:
    if source.is_dir():
        missing = [name for name in PACKAGE_FILES if not (source / name).is_file()]
        if missing:
            raise MissingPackageFileError(f"{source}: missing {', '.join(missing)}")
        names = [*PACKAGE_FILES, *(name for name in OPTIONAL_FILES if (source / name).is_file())]
        return {name: (source / name).read_bytes() for name in names}
    if not source.exists():
        raise MissingPackageFileError(f"no model package at {source}")
    members = _read_archive(source)
    missing = [name for name in PACKAGE_FILES if name not in members]
    if missing:
        raise MissingPackageFileError(f"{source}: the archive lacks {', '.join(missing)}")
    return members


def _read_archive(source: Path) -> dict[str, bytes]:
    """The package's files from an archive, by base name; only the names we need are read."""
    members: dict[str, bytes] = {}
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                for info in zf.infolist():
                    name = Path(info.filename).name
                    if name in (*PACKAGE_FILES, *OPTIONAL_FILES) and not info.is_dir():
                        members[name] = zf.read(info)
        elif tarfile.is_tarfile(source):
            with tarfile.open(source) as tf:
                for member in tf.getmembers():
                    name = Path(member.name).name
                    extracted = tf.extractfile(member) if member.isfile() else None
                    if name in (*PACKAGE_FILES, *OPTIONAL_FILES) and extracted is not None:
                        members[name] = extracted.read()
        else:
            raise CorruptPackageError(f"{source} is neither a package folder nor a zip/tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise CorruptPackageError(f"{source}: unreadable archive: {exc}") from exc
    return members


def _parse_json(data: bytes, name: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptPackageError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise CorruptPackageError(f"{name} must hold a JSON object")
    return parsed


def _config_from_json(model_json: ModelJson) -> ModelConfig:
    norm = model_json.normalization
    return ModelConfig(
        backbone=model_json.backbone,
        backbone_cfg=dict(model_json.backbone_cfg),
        embedding_size=model_json.embedding_size,
        input_size=model_json.input_size,
        mean=norm.mean,
        std=norm.std,
    )


def _build_network(config: ModelConfig, weights: bytes, source: Path | None) -> nn.Module:
    """``config``'s network with ``weights`` loaded strictly, in eval mode on the CPU (needs PyTorch)."""
    require_torch("the PyTorch network of a model package")
    from safetensors.torch import load as load_safetensors

    from models.registry import UnknownBackboneError

    try:
        network = config.build_network()
    except (UnknownBackboneError, TypeError, ValueError, RuntimeError) as exc:
        if isinstance(exc, RuntimeUnavailableError):
            raise
        raise CorruptPackageError(f"{source}: cannot build the architecture in {CONFIG_FILE}: {exc}") from exc
    try:
        state = load_safetensors(weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CorruptPackageError(f"{source}: {WEIGHTS_FILE} is not a valid safetensors file: {exc}") from exc
    _load_state_strict(network, state, source)
    return network.eval()


def _check_safetensors(weights: bytes, source: Path) -> None:
    """The weights parse as safetensors (with NumPy: no torch); names and shapes wait for the network."""
    from safetensors.numpy import load as load_numpy

    try:
        load_numpy(weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CorruptPackageError(f"{source}: {WEIGHTS_FILE} is not a valid safetensors file: {exc}") from exc


def _load_state_strict(network: nn.Module, state: dict[str, torch.Tensor], source: Path | None) -> None:
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: package {tuple(state[k].shape)} vs architecture {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected tensors {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append("shape mismatches " + "; ".join(wrong[:5]))
        raise PackageShapeError(f"{source}: {WEIGHTS_FILE} does not fit {CONFIG_FILE}: " + ", ".join(parts))
    cast = {k: v.to(expected[k].dtype) for k, v in state.items()}
    network.load_state_dict(cast, strict=True)


__all__ = [
    "CALIBRATION_FILE",
    "CARD_FILE",
    "CONFIG_FILE",
    "DEFAULT_PACKAGE_PATH",
    "WEIGHTS_FILE",
    "Calibration",
    "CorruptPackageError",
    "MissingPackageFileError",
    "ModelConfig",
    "ModelPackage",
    "ModelPackageError",
    "PackageShapeError",
    "RuntimeUnavailableError",
    "ThresholdPoint",
    "UntrainedModelWarning",
    "compute_model_id",
    "load_package",
    "require_torch",
    "save_package",
]
