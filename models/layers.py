"""Norm and activation factories, selectable by name so that a config in ``model.json`` can name them."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

LayerFactory = Callable[[int], nn.Module]

NORMS: dict[str, LayerFactory] = {
    "batch": nn.BatchNorm2d,
    "group": lambda c: nn.GroupNorm(min(32, c), c),
}

ACTIVATIONS: dict[str, LayerFactory] = {
    "prelu": nn.PReLU,
    "relu": lambda c: nn.ReLU(inplace=True),
    "silu": lambda c: nn.SiLU(inplace=True),
}


def norm_factory(name: str) -> LayerFactory:
    """``"batch"`` or ``"group"`` → a function of the channel count that builds the layer."""
    return _lookup(NORMS, name, "norm")


def act_factory(name: str) -> LayerFactory:
    """``"prelu"``, ``"relu"`` or ``"silu"`` → a function of the channel count that builds the layer."""
    return _lookup(ACTIVATIONS, name, "activation")


def _lookup(table: dict[str, LayerFactory], name: str, kind: str) -> LayerFactory:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {', '.join(sorted(table))}") from None
