"""VGG-style face backbone: plain stacks of 3×3 convolutions between 2×2 max-pools.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015. The paper's point: two stacked 3×3 convs see a 5×5 field (three see 7×7) with fewer
weights and more non-linearities than one large kernel, so depth is bought with small kernels. No
shortcut of any kind: this is the baseline the residual, highway and inception rows are measured
against. A norm after each conv (the paper predates batch norm) keeps 13 plain conv layers trainable
from scratch with the shared schedule.

``(B, 3, 112, 112)`` → stem 3×3 ``(B, C_1, 112, 112)`` → per stage: max-pool /2, ``depths[i]``
3×3 convs → ``(B, C_i, 112/2^(i+1), …)`` → :class:`~models.heads.EmbeddingHead` → ``(B, E)``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from models.backbones.staged import StagedBackbone, check_config, check_depths, conv_norm_act, scaled
from models.layers import LayerFactory, act_factory, norm_factory
from models.registry import register_backbone

# Four 3×3 convs in the two deep stages (as VGG-19 has): 13 conv layers, the body within iresnet18's
# parameter budget at every width (docs/ARCHITECTURES.md).
DEPTHS = (2, 2, 4, 4)
BASE_CHANNELS = (64, 128, 256, 512)


class VGG(StagedBackbone):
    """VGG face backbone. ``block="basic"``: every conv 3×3 (the paper's configuration D);
    ``block="bottleneck"``: a stage with three or more convs ends in a 1×1 conv instead
    (configuration C, the paper's test of extra non-linearity without a wider field)."""

    def __init__(
        self,
        depths: tuple[int, ...] | list[int] = DEPTHS,
        block: str = "basic",
        width: float = 1.0,
        embedding_size: int = 512,
        dropout: float = 0.0,
        input_size: int = 112,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.PReLU,
    ):
        check_config(
            width=width,
            embedding_size=embedding_size,
            input_size=input_size,
            block=block,
            blocks=("basic", "bottleneck"),
        )
        check_depths(depths)
        channels = scaled(BASE_CHANNELS, width)
        stem = conv_norm_act(3, channels[0], 3, norm_layer, act_layer)
        stages: list[nn.Module] = []
        c_in = channels[0]
        for n_convs, c_out in zip(depths, channels, strict=True):
            layers: list[nn.Module] = [nn.MaxPool2d(2)]
            for k in range(n_convs):
                kernel = 1 if block == "bottleneck" and n_convs >= 3 and k == n_convs - 1 else 3
                layers.append(conv_norm_act(c_in, c_out, kernel, norm_layer, act_layer))
                c_in = c_out
            stages.append(nn.Sequential(*layers))
        super().__init__(stem, stages, channels, embedding_size=embedding_size, dropout=dropout, input_size=input_size)


@register_backbone("vgg")
def vgg(norm: str = "batch", act: str = "prelu", **cfg: Any) -> VGG:
    return VGG(norm_layer=norm_factory(norm), act_layer=act_factory(act), **cfg)
