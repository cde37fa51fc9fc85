"""The network as trained: backbone + metric loss + the auxiliary heads that only training uses.

``L = L_metric + λ_attr·L_attr + λ_ds·L_deep_sup + λ_rec·L_recon + λ_kd·L_distill``; every term is
returned separately so the loop can log it. ``L_recon``'s decoder is ``plain`` (from the last stage
only) or ``unet`` (with skips from every stage). Export keeps ``backbone`` alone
(:func:`training.export.export_package`), so inference never carries a training-only part.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.backbones.staged import StagedBackbone
from models.registry import build_backbone
from training.config import TrainConfig
from training.losses import AttributeLoss, CosFaceLoss, build_metric_loss


class DeepSupervisionHead(nn.Module):
    """An auxiliary embedding on an intermediate stage (Lee et al., "Deeply-Supervised Nets",
    AISTATS 2015): ``(B, C, H, W)`` → pool → FC → BN → ``(B, dim)``, trained with its own CosFace
    loss over the same identities, so early stages learn identity-discriminative features."""

    def __init__(self, channels: int, num_classes: int, dim: int = 128):
        super().__init__()
        self.embed = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, dim), nn.BatchNorm1d(dim))
        self.loss = CosFaceLoss(num_classes, dim, margin=0.35, scale=32.0)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.loss(self.embed(features), labels)
        return out


class ReconstructionDecoder(nn.Module):
    """A light decoder ``(B, C, S/16, S/16)`` → ``(B, 3, S, S)``: four ×2 upsampling steps
    (nearest + 3×3 conv + BN + ReLU), then a 3×3 conv to RGB. It rebuilds the (clean) aligned
    face from the last stage's features: a reconstruction regulariser (Zhang et al., "Augmenting
    Supervised Neural Networks with Unsupervised Objectives for Large-scale Image Classification",
    ICML 2016), or a denoising one when the backbone saw a noised input (Rasmus et al., Ladder
    Networks, 2015)."""

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for c_out in (width * 4, width * 2, width, width):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 3, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(features)
        return out


class UNetDecoder(nn.Module):
    """The plain decoder plus U-Net skips (Ronneberger et al., "U-Net: Convolutional Networks for
    Biomedical Image Segmentation", MICCAI 2015): before each of its first three ×2 upsampling
    convs, the backbone's stage map of that resolution (stage 3 at S/8, stage 2 at S/4, stage 1 at
    S/2) is concatenated to the upsampled one. The layers are otherwise those of
    :class:`ReconstructionDecoder`, so the two rows of the study differ by the skips alone.

    Why it matters: the skips are the lateral connections of a Ladder network (Rasmus et al.,
    2015). Detail the decoder can take from stage 1 need not survive to the 7×7 map, so the
    reconstruction term stops forcing the deep stages to keep pixel detail that identity does not
    need, while still sending a gradient into every stage. ``[(B, C_i, S/2^i, S/2^i)]_{i=1..4}`` →
    ``(B, 3, S, S)``."""

    def __init__(self, stage_channels: Sequence[int], width: int = 32):
        super().__init__()
        if len(stage_channels) != 4:
            raise ValueError(f"the U-Net decoder needs four stage maps, got {len(stage_channels)} channels")
        skips = (stage_channels[2], stage_channels[1], stage_channels[0], 0)
        self.steps = nn.ModuleList()
        c_in = stage_channels[3]
        for c_skip, c_out in zip(skips, (width * 4, width * 2, width, width), strict=True):
            self.steps.append(
                nn.Sequential(
                    nn.Conv2d(c_in + c_skip, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                )
            )
            c_in = c_out
        self.to_rgb = nn.Conv2d(c_in, 3, 3, padding=1)

    def forward(self, stages: Sequence[torch.Tensor]) -> torch.Tensor:
        x = stages[3]
        skips: tuple[torch.Tensor | None, ...] = (stages[2], stages[1], stages[0], None)
        for step, skip in zip(self.steps, skips, strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            if skip is not None:
                x = torch.cat([x, skip], dim=1)
            x = step(x)
        out: torch.Tensor = self.to_rgb(x)
        return out


class FaceTrainingModel(nn.Module):
    """Backbone, class centres and auxiliary heads, built from a :class:`TrainConfig`."""

    def __init__(self, config: TrainConfig, num_classes: int, teacher_dim: int = 0):
        super().__init__()
        self.config = config
        backbone = build_backbone(
            config.backbone,
            width=config.width,
            block=config.block,
            embedding_size=config.embedding_size,
            dropout=config.dropout,
        )
        if not isinstance(backbone, StagedBackbone):  # the auxiliary heads read its four stage maps
            raise TypeError(f"backbone {config.backbone!r} is not a StagedBackbone (training needs its stages)")
        self.backbone: StagedBackbone = backbone
        cfg = (
            {"margin": config.margin}
            if config.metric == "triplet"
            else {"margin": config.margin, "scale": config.scale}
        )
        self.metric = build_metric_loss(config.metric, num_classes, config.embedding_size, **cfg)
        stage_channels: list[int] = list(self.backbone.stage_channels)
        self.attr_head = nn.Linear(config.embedding_size, len(config.attributes)) if config.attr_weight > 0 else None
        self.attr_loss = AttributeLoss(len(config.attributes))
        self.deep_heads = (
            nn.ModuleList(DeepSupervisionHead(c, num_classes) for c in stage_channels[1:3])
            if config.deep_sup_weight > 0
            else None
        )
        self.decoder: nn.Module | None = None
        if config.recon_weight > 0:
            plain = config.decoder == "plain"
            self.decoder = ReconstructionDecoder(stage_channels[-1]) if plain else UNetDecoder(stage_channels)
        self.teacher_dim = teacher_dim
        # "cosine" distillation compares a linear projection of the embedding with the teacher's (with
        # equal sizes, the embedding itself); "regress" maps the unit embedding affinely onto the
        # teacher's raw descriptor. Training-only, like every head here.
        self.distill_proj: nn.Module | None = None
        if config.distill_weight > 0 and config.distill == "cosine" and 0 < teacher_dim != config.embedding_size:
            self.distill_proj = nn.Linear(config.embedding_size, teacher_dim, bias=False)
        if config.distill_weight > 0 and config.distill == "regress" and teacher_dim > 0:
            self.distill_proj = nn.Linear(config.embedding_size, teacher_dim)

    @torch.no_grad()
    def start_distillation_head(self, teacher: np.ndarray) -> None:
        """Start ``regress``'s affine map at the teacher's mean with zero weights: the term starts at 1
        (the batch-mean prediction) and sends the backbone no gradient until the map has learnt a
        direction, instead of a random map's large, meaningless one."""
        if self.config.distill == "regress" and isinstance(self.distill_proj, nn.Linear):
            self.distill_proj.weight.zero_()
            assert self.distill_proj.bias is not None
            self.distill_proj.bias.copy_(torch.from_numpy(np.asarray(teacher, np.float32).mean(axis=0)))

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        attributes: torch.Tensor | None = None,
        teacher: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``images`` ``(B, 3, S, S)`` normalised, ``labels`` ``(B,)``, ``attributes`` ``(B, A)``
        (NaN = missing), ``teacher`` ``(B, T)`` → ``{"loss": total, "metric": ..., ...}``."""
        cfg = self.config
        clean = images
        if cfg.recon_weight > 0 and cfg.recon_noise_std > 0:
            images = images + cfg.recon_noise_std * torch.randn_like(images)
        stages = self.backbone.forward_stages(images)
        embeddings = self.backbone.forward_head(stages[-1])
        terms: dict[str, torch.Tensor] = {"metric": self.metric(embeddings, labels)}
        total = terms["metric"]
        if self.attr_head is not None and attributes is not None:
            terms["attributes"] = self.attr_loss(self.attr_head(embeddings).float(), attributes)
            total = total + cfg.attr_weight * terms["attributes"]
        if self.deep_heads is not None:
            deep = [head(stage, labels) for head, stage in zip(self.deep_heads, stages[1:3], strict=True)]
            terms["deep_sup"] = torch.stack(deep).mean()
            total = total + cfg.deep_sup_weight * terms["deep_sup"]
        if self.decoder is not None:
            rebuilt = self.decoder(stages) if isinstance(self.decoder, UNetDecoder) else self.decoder(stages[-1])
            terms["recon"] = F.mse_loss(rebuilt.float(), clean.float())
            total = total + cfg.recon_weight * terms["recon"]
        if cfg.distill_weight > 0 and teacher is not None:
            if cfg.distill == "cosine":
                projected = embeddings if self.distill_proj is None else self.distill_proj(embeddings)
                terms["distill"] = cosine_distillation(projected, teacher)
            elif cfg.distill == "regress":
                assert self.distill_proj is not None
                predicted = self.distill_proj(F.normalize(embeddings.float(), dim=1))
                terms["distill"] = regression_distillation(predicted, teacher)
            else:
                terms["distill"] = similarity_distillation(embeddings, teacher)
            total = total + cfg.distill_weight * terms["distill"]
        terms["loss"] = total
        return terms


def similarity_distillation(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Relational embedding distillation (Park et al., "Relational Knowledge Distillation", CVPR
    2019, angle-free form): the mean squared difference between the batch's student and teacher
    cosine-similarity matrices. Dimension-free, so a 512-d student learns from dlib's 128-d teacher.
    ``(B, E), (B, T) -> ()``."""
    s = F.normalize(student.float(), dim=1)
    t = F.normalize(teacher.float(), dim=1)
    return F.mse_loss(s @ s.T, t @ t.T)


def cosine_distillation(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Embedding (feature) distillation: the mean of ``1 − cos(student_i, teacher_i)`` over the batch,
    so each face's embedding points where the teacher's does. ``(B, T), (B, T) -> ()``; the student
    is projected to the teacher's size beforehand when the sizes differ."""
    cos = F.cosine_similarity(student.float(), teacher.float(), dim=1)
    return (1.0 - cos).mean()


def regression_distillation(predicted: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Descriptor regression in the teacher's own metric: the mean squared Euclidean error between an
    affine map of the student's unit embedding and the teacher's raw descriptor, over the batch's
    total teacher variance (so predicting the batch mean scores 1, whatever the descriptor's scale).
    dlib's descriptors sit in a narrow cone (cosine ≈ 0.83 between strangers) and are compared by
    Euclidean distance, which this keeps and a cosine target would not. ``(B, T), (B, T) -> ()``."""
    teacher = teacher.float()
    spread = (teacher - teacher.mean(dim=0)).pow(2).sum(dim=1).mean().clamp_min(1e-12)
    return (predicted.float() - teacher).pow(2).sum(dim=1).mean() / spread
