"""Every registered backbone × block kind: shapes, finiteness, gradients, stage maps; the registry's errors."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from models.backbones.iresnet import IResNet
from models.registry import UnknownBackboneError, build_backbone, list_backbones, register_backbone

BATCH = 2
INPUT = 112
EMBEDDING = 64
WIDTH = 0.125
BLOCKS = ("basic", "bottleneck")


def _small(name: str, block: str, **cfg: object) -> nn.Module:
    torch.manual_seed(0)
    return build_backbone(name, block=block, width=WIDTH, embedding_size=EMBEDDING, input_size=INPUT, **cfg)


def _input(seed: int = 0) -> torch.Tensor:
    return torch.randn(BATCH, 3, INPUT, INPUT, generator=torch.Generator().manual_seed(seed))


def test_builtin_backbones_are_registered() -> None:
    names = list_backbones()
    assert names == sorted(names)
    assert {"iresnet18", "iresnet34", "iresnet50", "iresnet100"} <= set(names)


@pytest.mark.parametrize(("name", "block"), list(itertools.product(list_backbones(), BLOCKS)))
def test_forward_backward(name: str, block: str) -> None:
    model = _small(name, block).train()
    out = model(_input())
    assert out.shape == (BATCH, EMBEDDING)
    assert torch.isfinite(out).all()
    # A random projection, not sum() or square().sum(): the head ends in BatchNorm1d, whose batch-summed output
    # (and the sum of its squares) is constant in training mode, which would give zero gradients upstream.
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * projection).sum().backward()
    without = [n for n, p in model.named_parameters() if p.grad is None]
    zero = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().gt(0).any()]
    nonfinite = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not without, f"parameters without a gradient: {without[:5]}"
    assert not zero, f"parameters with an all-zero gradient: {zero[:5]}"
    assert not nonfinite, f"parameters with a non-finite gradient: {nonfinite[:5]}"


@pytest.mark.parametrize(("name", "block"), list(itertools.product(list_backbones(), BLOCKS)))
def test_stages_features_head_compose(name: str, block: str) -> None:
    model = _small(name, block).eval()
    x = _input(2)
    with torch.no_grad():
        stages = model.forward_stages(x)
        assert len(stages) == 4
        assert [tuple(s.shape[-2:]) for s in stages] == [(56, 56), (28, 28), (14, 14), (7, 7)]
        assert [s.shape[1] for s in stages] == list(model.stage_channels)
        assert all(s.shape[0] == BATCH for s in stages)
        embedding = model(x)
        torch.testing.assert_close(model.forward_head(stages[-1]), embedding)
        torch.testing.assert_close(model.forward_features(x), stages[-1])
    assert embedding.shape == (BATCH, EMBEDDING)


def test_width_scales_channels() -> None:
    assert _small("iresnet18", "basic").stage_channels == [8, 16, 32, 64]
    full = build_backbone("iresnet18", embedding_size=EMBEDDING)
    assert full.stage_channels == [64, 128, 256, 512]


def test_depths_differ() -> None:
    counts = {name: sum(p.numel() for p in _small(name, "basic").parameters()) for name in list_backbones()}
    assert counts["iresnet18"] < counts["iresnet34"] < counts["iresnet50"] < counts["iresnet100"]


def test_other_input_size() -> None:
    model = build_backbone("iresnet18", width=WIDTH, embedding_size=32, input_size=64).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 32)
        assert [s.shape[-1] for s in model.forward_stages(torch.randn(1, 3, 64, 64))] == [32, 16, 8, 4]


@pytest.mark.parametrize(("norm", "act"), [("group", "relu"), ("batch", "silu")])
def test_norm_and_activation_are_configurable(norm: str, act: str) -> None:
    model = build_backbone("iresnet18", width=WIDTH, embedding_size=EMBEDDING, norm=norm, act=act)
    kinds = {type(m) for m in model.stages.modules()}
    assert (nn.GroupNorm if norm == "group" else nn.BatchNorm2d) in kinds
    assert (nn.ReLU if act == "relu" else nn.SiLU) in kinds
    assert nn.PReLU not in kinds
    with torch.no_grad():
        assert model.eval()(_input()).shape == (BATCH, EMBEDDING)


# --- registry -------------------------------------------------------------------------------------


def test_unknown_backbone_lists_the_known_names() -> None:
    with pytest.raises(UnknownBackboneError) as info:
        build_backbone("resnet9000")
    message = str(info.value)
    assert "resnet9000" in message
    for name in list_backbones():
        assert name in message
    assert isinstance(info.value, KeyError)


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="iresnet18"):

        @register_backbone("iresnet18")
        def impostor(**cfg: object) -> nn.Module:
            return nn.Identity()

    # The original factory is still the one registered.
    assert isinstance(build_backbone("iresnet18", width=WIDTH, embedding_size=8), IResNet)


def test_build_passes_cfg_through(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import registry

    seen: dict[str, object] = {}

    def factory(**cfg: object) -> nn.Module:
        seen.update(cfg)
        return nn.Identity()

    monkeypatch.setitem(registry._BACKBONES, "test-probe", factory)
    model = build_backbone("test-probe", width=0.3, embedding_size=7, block="bottleneck")
    assert isinstance(model, nn.Identity)
    assert seen == {"width": 0.3, "embedding_size": 7, "block": "bottleneck"}
    assert "test-probe" in list_backbones()


def test_build_passes_cfg_to_iresnet() -> None:
    model = build_backbone("iresnet34", block="bottleneck", width=0.25, embedding_size=40, dropout=0.1)
    assert isinstance(model, IResNet)
    assert model.embedding_size == 40
    assert model.stage_channels == [16, 32, 64, 128]
    assert [len(stage) for stage in model.stages] == [3, 4, 6, 3]
    assert type(model.stages[0][0]).__name__ == "IRBottleneckBlock"
    assert model.head.dropout.p == pytest.approx(0.1)


@pytest.mark.parametrize(
    "layers", [(2, 2, 2), (2, 2, 2, 2, 2), (2, 0, 2, 2), (2, -1, 2, 2)], ids=["3", "5", "zero", "negative"]
)
def test_bad_layers(layers: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="layers"):
        IResNet(layers, width=WIDTH, embedding_size=8)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"width": 0.0}, "width"),
        ({"width": -0.5}, "width"),
        ({"block": "dense"}, "block"),
        ({"input_size": 100}, "input_size"),
        ({"input_size": 120}, "input_size"),
        ({"norm": "layer"}, "norm"),
        ({"act": "gelu"}, "activation"),
    ],
    ids=["width0", "width-neg", "block", "input100", "input120", "norm", "act"],
)
def test_bad_cfg(cfg: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_backbone("iresnet18", **{"width": WIDTH, "embedding_size": 8, **cfg})


@pytest.mark.parametrize(
    "cfg",
    [{"input_size": 0}, {"input_size": -16}, {"embedding_size": 0}, {"embedding_size": -1}],
    ids=["input0", "input-16", "embedding0", "embedding-1"],
)
def test_non_positive_sizes_are_refused(cfg: dict[str, object]) -> None:
    # input_size 0 or -16 passes the "multiple of 16" check; embedding_size <= 0 is not checked at all
    # (0 builds a network that outputs (B, 0); -1 fails inside torch with a RuntimeError).
    with pytest.raises(ValueError):
        build_backbone("iresnet18", **{"width": WIDTH, "embedding_size": 8, **cfg})
