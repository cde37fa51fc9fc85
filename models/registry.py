"""Backbone registry: ``@register_backbone("name")`` on a factory, ``build_backbone(name, **cfg)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

BackboneFactory = Callable[..., nn.Module]
F = TypeVar("F", bound=BackboneFactory)

_BACKBONES: dict[str, BackboneFactory] = {}


class UnknownBackboneError(KeyError):
    """Raised for a name that no factory was registered under."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written.
        return str(self.args[0])


def register_backbone(name: str) -> Callable[[F], F]:
    """Register a backbone factory under ``name``; a second registration of a name is an error."""

    def decorator(factory: F) -> F:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered (by {_BACKBONES[name].__module__})")
        _BACKBONES[name] = factory
        return factory

    return decorator


def build_backbone(name: str, **cfg: object) -> nn.Module:
    """Build the backbone registered as ``name`` with keyword configuration ``cfg``."""
    _ensure_builtin_backbones()
    try:
        factory = _BACKBONES[name]
    except KeyError:
        known = ", ".join(sorted(_BACKBONES)) or "none"
        raise UnknownBackboneError(f"unknown backbone {name!r}; registered: {known}") from None
    return factory(**cfg)


def list_backbones() -> list[str]:
    """Names of every registered backbone, sorted."""
    _ensure_builtin_backbones()
    return sorted(_BACKBONES)


def _ensure_builtin_backbones() -> None:
    # The built-in backbones register themselves when their module is imported.
    from models import backbones  # noqa: F401
