"""Device choice: CPU by default, the GPU when one is present, ``FACEGATE_DEVICE`` to force one."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else ``$FACEGATE_DEVICE``, else ``cuda`` when available, else ``cpu``. Only the torch
    paths call it (it imports torch; a :class:`models.package.RuntimeUnavailableError` without it)."""
    from models.package import require_torch

    require_torch("a PyTorch device")
    import torch

    if device is not None:
        return torch.device(device)
    env = os.environ.get("FACEGATE_DEVICE")
    if env:
        return torch.device(env)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
