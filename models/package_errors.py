"""What a model package can fail with: one error class per stable ``code``, the untrained-model warning, and
:func:`require_torch` for the paths that need PyTorch."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, TypeVar

from models.package_schema import CalibrationJson, ModelJson, PackageJsonError, validate_json

S = TypeVar("S", CalibrationJson, ModelJson)


class ModelPackageError(RuntimeError):
    """A package that cannot be used. ``code`` is stable and machine readable."""

    code = "model_package_invalid"


class RuntimeUnavailableError(ModelPackageError):
    """What a path needs is not installed (PyTorch for the torch runtime, a network or a saved package)."""

    code = "runtime_unavailable"


def require_torch(purpose: str, module: str = "torch") -> ModuleType:
    """``module`` (``torch``, ``facenet_pytorch``, …) imported, or a :class:`RuntimeUnavailableError` naming the
    missing package and ``purpose`` (what needed it), instead of an ``ImportError`` from deep inside."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or module
        raise RuntimeUnavailableError(
            f"{purpose} needs the Python package {missing!r}, which is not installed (the service's ONNX runtime "
            "does not need it: set FACEGATE_INFERENCE_RUNTIME=onnx, or install PyTorch and facenet-pytorch)"
        ) from exc


class MissingPackageFileError(ModelPackageError):
    code = "model_package_missing_file"


class CorruptPackageError(ModelPackageError):
    code = "model_package_corrupt"


class PackageShapeError(ModelPackageError):
    code = "model_package_shape_mismatch"


class UntrainedModelWarning(UserWarning):
    """The package's weights were never trained: its embeddings cannot recognise anyone."""


def validate_file(schema: type[S], data: Any, file: str) -> S:
    """``data`` (one parsed JSON file of a package) checked by ``schema``; a :class:`CorruptPackageError` naming
    ``file`` and every bad field when it does not fit."""
    try:
        return validate_json(schema, data, file)
    except PackageJsonError as exc:
        raise CorruptPackageError(str(exc)) from exc
