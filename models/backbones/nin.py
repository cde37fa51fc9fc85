"""Network-in-Network face backbone: mlpconv blocks, a k×k conv followed by 1×1 convs.

Lin, Chen & Yan, "Network In Network", ICLR 2014. A plain conv is a generalised *linear* model of
each patch; the paper replaces it with a small multilayer perceptron slid over the map ("mlpconv"),
which is exactly a k×k conv followed by 1×1 convs, each with its non-linearity. The 1×1 convs mix
channels at every position at little cost, the idea the Inception reductions and the ResNet
bottlenecks reuse. The paper's other idea, global average pooling instead of fully connected
layers, is not used here: every backbone of the study ends in the same
:class:`~models.heads.EmbeddingHead`, so that the head is not one of the differences measured.
Kernels shrink with depth (5, 5, 3, 3) as in the paper's networks (5, 5, 3 on CIFAR).

``(B, 3, 112, 112)`` → stem 3×3 ``(B, C_1, 112, 112)`` → per stage: max-pool /2, ``depths[i]``
mlpconv blocks → ``(B, C_i, 112/2^(i+1), …)`` → :class:`~models.heads.EmbeddingHead` → ``(B, E)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.backbones.staged import MaxPool3x3, StagedBackbone, check_config, check_depths, conv_norm_act, scaled
from models.layers import LayerFactory, act_factory, norm_factory
from models.registry import register_backbone

DEPTHS = (1, 2, 3, 3)
BASE_CHANNELS = (64, 128, 256, 512)
KERNELS = (5, 5, 3, 3)
# Width of the micro-MLP's hidden 1×1 layer relative to the block's channels.
HIDDEN = {"basic": 1.0, "bottleneck": 0.5}


class MlpConv(nn.Module):
    """``(B, c_in, H, W)`` → ``(B, c_out, H, W)``: k×k conv → 1×1 (hidden) → 1×1, each + norm + act."""

    def __init__(self, c_in: int, c_out: int, kernel: int, hidden: float, norm: LayerFactory, act: LayerFactory):
        super().__init__()
        c_hidden = max(8, round(c_out * hidden))
        self.layers = nn.Sequential(
            conv_norm_act(c_in, c_out, kernel, norm, act),
            conv_norm_act(c_out, c_hidden, 1, norm, act),
            conv_norm_act(c_hidden, c_out, 1, norm, act),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(x)
        return out


class NIN(StagedBackbone):
    """Network-in-Network face backbone. ``block="basic"``: the micro-MLP's hidden 1×1 layer is as
    wide as the block; ``block="bottleneck"``: half as wide (a narrower MLP, fewer weights)."""

    def __init__(
        self,
        depths: tuple[int, ...] | list[int] = DEPTHS,
        block: str = "basic",
        width: float = 1.0,
        embedding_size: int = 512,
        dropout: float = 0.0,
        input_size: int = 112,
        kernels: tuple[int, ...] | list[int] = KERNELS,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.PReLU,
    ):
        check_config(
            width=width, embedding_size=embedding_size, input_size=input_size, block=block, blocks=tuple(HIDDEN)
        )
        check_depths(depths)
        if len(kernels) != len(depths) or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels must be {len(depths)} odd sizes, got {list(kernels)}")
        channels = scaled(BASE_CHANNELS, width)
        stem = conv_norm_act(3, channels[0], 3, norm_layer, act_layer)
        stages: list[nn.Module] = []
        c_in = channels[0]
        for n_blocks, c_out, kernel in zip(depths, channels, kernels, strict=True):
            blocks: list[nn.Module] = [MaxPool3x3(stride=2)]
            for _ in range(n_blocks):
                blocks.append(MlpConv(c_in, c_out, kernel, HIDDEN[block], norm_layer, act_layer))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        super().__init__(stem, stages, channels, embedding_size=embedding_size, dropout=dropout, input_size=input_size)


@register_backbone("nin")
def nin(norm: str = "batch", act: str = "prelu", **cfg: Any) -> NIN:
    return NIN(norm_layer=norm_factory(norm), act_layer=act_factory(act), **cfg)
