"""IR-ResNet ("improved residual" ResNet) for 112×112 aligned faces.

Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019, and
He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016 (pre-activation blocks).
Each block is BN → conv → BN → PReLU → conv → BN plus a shortcut; every stage halves the map,
112 → 56 → 28 → 14 → 7, then :class:`~models.heads.EmbeddingHead` maps ``(B, C, 7, 7)`` to
``(B, E)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from models.backbones.staged import StagedBackbone
from models.layers import LayerFactory, act_factory, norm_factory
from models.registry import register_backbone

BlockKind = Literal["basic", "bottleneck"]

# Stage layouts of insightface's arcface_torch IR-ResNets.
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
}
BASE_CHANNELS = (64, 128, 256, 512)


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


class IRBasicBlock(nn.Module):
    """BN → 3×3 → BN → act → 3×3 (stride) → BN, plus the shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: LayerFactory, act: LayerFactory):
        super().__init__()
        self.residual = nn.Sequential(
            norm(c_in),
            _conv3x3(c_in, c_out),
            norm(c_out),
            act(c_out),
            _conv3x3(c_out, c_out, stride),
            norm(c_out),
        )
        self.shortcut = _shortcut(c_in, c_out, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.residual(x) + self.shortcut(x)
        return out


class IRBottleneckBlock(nn.Module):
    """BN → 1×1 (reduce to c_out/4) → BN → act → 3×3 (stride) → BN → act → 1×1 (expand) → BN."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: LayerFactory, act: LayerFactory):
        super().__init__()
        mid = max(c_out // 4, 8)
        self.residual = nn.Sequential(
            norm(c_in),
            nn.Conv2d(c_in, mid, kernel_size=1, bias=False),
            norm(mid),
            act(mid),
            _conv3x3(mid, mid, stride),
            norm(mid),
            act(mid),
            nn.Conv2d(mid, c_out, kernel_size=1, bias=False),
            norm(c_out),
        )
        self.shortcut = _shortcut(c_in, c_out, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.residual(x) + self.shortcut(x)
        return out


def _shortcut(c_in: int, c_out: int, stride: int, norm: LayerFactory) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False), norm(c_out))


class IResNet(StagedBackbone):
    """IR-ResNet face backbone: ``(B, 3, S, S) -> (B, embedding_size)`` with ``S`` = ``input_size``.

    ``forward_stages`` gives the four stage maps (for deep supervision and decoders),
    ``forward_features`` the last one ``(B, C, S/16, S/16)``, ``forward_head`` the embedding
    (all from :class:`~models.backbones.staged.StagedBackbone`, which the lecture's backbones share).
    """

    def __init__(
        self,
        layers: tuple[int, ...] | list[int],
        block: BlockKind = "basic",
        width: float = 1.0,
        embedding_size: int = 512,
        dropout: float = 0.0,
        input_size: int = 112,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.PReLU,
    ):
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be four positive block counts, got {list(layers)}")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        if input_size <= 0 or input_size % 16:
            raise ValueError(f"input_size must be a positive multiple of 16, got {input_size}")
        if embedding_size <= 0:
            raise ValueError(f"embedding_size must be positive, got {embedding_size}")
        block_cls = {"basic": IRBasicBlock, "bottleneck": IRBottleneckBlock}.get(block)
        if block_cls is None:
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")

        channels = [max(8, round(c * width)) for c in BASE_CHANNELS]
        stem = nn.Sequential(_conv3x3(3, channels[0]), norm_layer(channels[0]), act_layer(channels[0]))
        stages: list[nn.Module] = []
        c_in = channels[0]
        for n_blocks, c_out in zip(layers, channels, strict=True):
            blocks = [block_cls(c_in, c_out, 2, norm_layer, act_layer)]
            blocks += [block_cls(c_out, c_out, 1, norm_layer, act_layer) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        # Same submodule names (stem, stages, head) as before the shared base: packages load unchanged.
        super().__init__(stem, stages, channels, embedding_size=embedding_size, dropout=dropout, input_size=input_size)


def _iresnet(depth: int, block: BlockKind = "basic", norm: str = "batch", act: str = "prelu", **cfg: object) -> IResNet:
    return IResNet(DEPTHS[depth], block=block, norm_layer=norm_factory(norm), act_layer=act_factory(act), **cfg)  # type: ignore[arg-type]


@register_backbone("iresnet18")
def iresnet18(**cfg: object) -> IResNet:
    return _iresnet(18, **cfg)  # type: ignore[arg-type]


@register_backbone("iresnet34")
def iresnet34(**cfg: object) -> IResNet:
    return _iresnet(34, **cfg)  # type: ignore[arg-type]


@register_backbone("iresnet50")
def iresnet50(**cfg: object) -> IResNet:
    return _iresnet(50, **cfg)  # type: ignore[arg-type]


@register_backbone("iresnet100")
def iresnet100(**cfg: object) -> IResNet:
    return _iresnet(100, **cfg)  # type: ignore[arg-type]
