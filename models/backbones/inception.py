"""Inception face backbone: parallel 1×1 / 3×3 / 5×5 / pooled branches, with 1×1 reductions.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (GoogLeNet). A module looks at one map
at several scales at once and concatenates the answers; the naive module (Fig. 2a) is unaffordable
because the 3×3 and 5×5 convs run on all input channels, so the paper's module (Fig. 2b) puts a
1×1 *dimension reduction* in front of them and a 1×1 *projection* after a 3×3 max-pool. Our split
of a module's ``C`` output channels follows GoogLeNet's inception (3a): 1×1 → C/4, 3×3 → C/2,
5×5 → C/8, pool projection → C/8; each conv is followed by the shared norm and activation (the
BN-Inception habit). Between stages a 3×3 stride-2 max-pool halves the map, as between the paper's
module groups.

``(B, 3, 112, 112)`` → stem 3×3 ``(B, C_1, 112, 112)`` → per stage: max-pool /2, ``depths[i]``
modules → ``(B, C_i, 112/2^(i+1), …)`` → :class:`~models.heads.EmbeddingHead` → ``(B, E)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.backbones.staged import MaxPool3x3, StagedBackbone, check_config, check_depths, conv_norm_act, scaled
from models.layers import LayerFactory, act_factory, norm_factory
from models.registry import register_backbone

# A module costs ~2.8·C² weights against a basic residual block's 18·C²: a wider third stage and 14
# modules (GoogLeNet has 9) bring the body near iresnet18's parameter budget (docs/ARCHITECTURES.md).
DEPTHS = (2, 3, 6, 3)
BASE_CHANNELS = (128, 256, 512, 512)
# The 1×1 reductions' widths relative to the (3×3, 5×5) branch outputs: GoogLeNet's inception (3a)
# reduces 128 → 96 and 32 → 16; "bottleneck" halves both.
REDUCTION = {"basic": (0.75, 0.5), "bottleneck": (0.375, 0.25)}


class InceptionModule(nn.Module):
    """``(B, c_in, H, W)`` → ``(B, c_out, H, W)``: four branches concatenated on channels."""

    def __init__(self, c_in: int, c_out: int, reduction: tuple[float, float], norm: LayerFactory, act: LayerFactory):
        super().__init__()
        c1, c3, c5 = c_out // 4, c_out // 2, c_out // 8
        cp = c_out - c1 - c3 - c5
        r3, r5 = max(8, round(c3 * reduction[0])), max(8, round(c5 * reduction[1]))
        self.branch1 = conv_norm_act(c_in, c1, 1, norm, act)
        self.branch3 = nn.Sequential(conv_norm_act(c_in, r3, 1, norm, act), conv_norm_act(r3, c3, 3, norm, act))
        self.branch5 = nn.Sequential(conv_norm_act(c_in, r5, 1, norm, act), conv_norm_act(r5, c5, 5, norm, act))
        self.branch_pool = nn.Sequential(MaxPool3x3(), conv_norm_act(c_in, cp, 1, norm, act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


class Inception(StagedBackbone):
    """Inception face backbone. ``block="basic"``: inception (3a)'s reductions (3×3 branch input at
    3/4 of its output, 5×5 at 1/2); ``block="bottleneck"``: half those (cheaper, narrower paths)."""

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
            width=width, embedding_size=embedding_size, input_size=input_size, block=block, blocks=tuple(REDUCTION)
        )
        check_depths(depths)
        channels = scaled(BASE_CHANNELS, width)
        stem = conv_norm_act(3, channels[0], 3, norm_layer, act_layer)
        stages: list[nn.Module] = []
        c_in = channels[0]
        for n_modules, c_out in zip(depths, channels, strict=True):
            modules: list[nn.Module] = [MaxPool3x3(stride=2)]
            for _ in range(n_modules):
                modules.append(InceptionModule(c_in, c_out, REDUCTION[block], norm_layer, act_layer))
                c_in = c_out
            stages.append(nn.Sequential(*modules))
        super().__init__(stem, stages, channels, embedding_size=embedding_size, dropout=dropout, input_size=input_size)


@register_backbone("inception")
def inception(norm: str = "batch", act: str = "prelu", **cfg: Any) -> Inception:
    return Inception(norm_layer=norm_factory(norm), act_layer=act_factory(act), **cfg)
