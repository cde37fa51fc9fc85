"""A model package's id without torch: what listings need (templates are counted per model id) from a command that
must answer at once. :func:`models.package.load_package` remains the full check (it builds the network).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DEFAULT_PACKAGE_PATH = Path(__file__).resolve().parent / "packages" / "default"


def read_model_id(path: str | Path | None = None) -> str:
    """The id in a package folder's ``model.json`` once its weights match the sha256 stored there (an archive, or
    a folder that fails the check, goes through :func:`models.package.load_package`, which names the problem)."""
    source = Path(path) if path is not None else DEFAULT_PACKAGE_PATH
    config, weights = source / "model.json", source / "weights.safetensors"
    if source.is_dir() and config.is_file() and weights.is_file():
        try:
            model_json = json.loads(config.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            model_json = None
        if isinstance(model_json, dict):
            model_id = model_json.get("model_id")
            digest = hashlib.sha256(weights.read_bytes()).hexdigest()
            if isinstance(model_id, str) and digest == model_json.get("weights_sha256"):
                return model_id
    from models.package import load_package

    return load_package(source, warn_untrained=False).model_id
