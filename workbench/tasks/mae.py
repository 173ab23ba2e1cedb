"""MAE: hide most patches of the image; a ViT encodes the visible ones and a light decoder redraws the rest."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.config import RunConfig, TaskConfig, setting
from workbench.models import backbone_patch_size
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.display import to_display
from workbench.tasks.losses import masked_reconstruction_loss
from workbench.tasks.patches import (masked_count, normalize_patches, patch_grid_problem, patchify, random_patch_mask,
                                     unpatchify)
from workbench.tasks.registry import register_task


@dataclass
class MAEConfig(TaskConfig):
    """Settings of MAE."""

    mask_ratio: float = setting(0.75, "Fraction of the patches hidden from the encoder. High ratios (0.75) make "
                                      "the task hard enough and the encoder cheap.", min=0.05, max=0.95)
    normalized_target: bool = setting(True, "Predict each patch's pixels normalised to its own mean and spread "
                                            "(sharper features) instead of the raw normalised pixels.")
    decoder_dim: int = setting(128, "Width of the light decoder.", min=16, max=4096, advanced=True)
    decoder_depth: int = setting(2, "Transformer layers in the decoder.", min=1, max=16, advanced=True)
    decoder_heads: int = setting(4, "Attention heads in the decoder (must divide the decoder width).",
                                 min=1, max=64, advanced=True)


@register_task("mae")
class MAE(PretextTask):
    """Most patches of the image are hidden; from the few visible ones, redraw the hidden ones.

    The view is cut into the ViT's patches and a random 75% (the mask ratio) are removed. The ViT encoder
    sees only the visible patches (with their positions), which also makes it fast; a light transformer
    decoder gets the encoded patches plus a learnt placeholder at each hidden position and predicts the
    hidden patches' pixels. The loss (mean squared error) counts only the hidden patches; with the
    normalised target each patch is compared after normalising it to its own mean and spread. No negatives
    and no augmentation beyond a crop and flip are needed. Needs a ViT backbone (use SimMIM for CNNs).

    How it fails: with a low mask ratio the hidden patches can be interpolated from their neighbours and the
    encoder learns little; blurry reconstructions are expected and fine. Features from MAE are usually
    weaker under kNN / linear probes than contrastive ones but fine-tune well. `masked_mse` is the
    reconstruction error on the hidden patches.

    Paper: "Masked Autoencoders Are Scalable Vision Learners" (He, Chen, Xie, Li, Dollár, Girshick, 2022).
    """

    title = "MAE"
    description = "Masked modelling (ViT): redraw the 75% of patches hidden from the encoder."
    Config = MAEConfig
    family = "masked prediction"
    trains_class_token = False
    backbone_kinds = ("vit",)
    backbone_advice = "use simmim for convolutional ones"

    def __init__(self, cfg: MAEConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        problem = _decoder_problem(cfg)
        if problem:
            raise ValueError(f"mae.decoder_heads: {problem}")
        self.patch = encoder.patch_size
        patches = (encoder.input_size // self.patch) ** 2
        self.decoder_embed = nn.Linear(embed_dim, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.decoder_position = nn.Parameter(torch.randn(1, patches, cfg.decoder_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.decoder_dim, cfg.decoder_heads, 4 * cfg.decoder_dim, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerEncoder(layer, cfg.decoder_depth, enable_nested_tensor=False)
        self.decoder_norm = nn.LayerNorm(cfg.decoder_dim)
        self.predict = nn.Linear(cfg.decoder_dim, encoder.in_channels * self.patch * self.patch)

    @classmethod
    def config_problems(cls, cfg: MAEConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        """The ViT's patches must be 2 x 2 at least: some hidden, some seen."""
        problems = []
        problem = patch_grid_problem(config.data.image_size, backbone_patch_size(config.model))
        if problem:
            problems.append(("model.patch_size", f"{cls.name} needs it to cut the image into patches: {problem}"))
        if _decoder_problem(cfg):
            problems.append((cls.setting_path("decoder_heads"), _decoder_problem(cfg)))
        return problems

    def _reconstruct(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(predicted patches (B, N, C*p*p), mask (B, N) True = hidden, mean of the visible patch tokens (B, D):
        the class token is never trained, so it is not the embedding)."""
        batch, patches = view.shape[0], self.decoder_position.shape[1]
        mask = random_patch_mask(batch, patches, self.cfg.mask_ratio, view.device)
        visible = patches - masked_count(patches, self.cfg.mask_ratio)  # known on the host: no sync
        keep = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)[:, :visible]  # visible, in raster order
        tokens = self.encoder.tokens(view, keep)
        encoded = self.decoder_embed(tokens[:, 1:])
        width = encoded.shape[-1]
        placeholders = self.mask_token.to(encoded.dtype).expand(batch, patches, width)
        full = placeholders.scatter(1, keep.unsqueeze(-1).expand(-1, -1, width), encoded)
        decoded = self.decoder_norm(self.decoder(full + self.decoder_position))
        return self.predict(decoded), mask, tokens[:, 1:].mean(dim=1)

    def _target(self, view: torch.Tensor) -> torch.Tensor:
        target = patchify(view.float(), self.patch)
        return normalize_patches(target) if self.cfg.normalized_target else target

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        view = augment(images)
        prediction, mask, embeddings = self._reconstruct(view)
        per_sample = masked_reconstruction_loss(prediction, self._target(view), mask.unsqueeze(-1))
        return TaskOutput(loss=per_sample.mean(), embeddings=embeddings.detach(), per_sample_loss=per_sample.detach(),
                          metrics={"masked_mse": per_sample.detach().mean()})

    @torch.no_grad()
    def render_example(self, images: torch.Tensor, augment: Augment) -> dict[str, torch.Tensor]:
        """The view, the view with its hidden patches blanked, and the visible patches plus the redrawn ones.

        A normalised-target prediction is shown at each true patch's own mean and spread (as MAE's figures do).
        """
        view = augment(images)
        prediction, mask, _ = self._reconstruct(view)
        patches = patchify(view.float(), self.patch)
        if self.cfg.normalized_target:
            mean = patches.mean(-1, keepdim=True)
            std = (patches.var(-1, keepdim=True, unbiased=False) + 1e-6).sqrt()
            prediction = prediction.float() * std + mean
        hidden = mask.unsqueeze(-1)
        floor = patches.amin(dim=(1, 2), keepdim=True).expand_as(patches)
        channels = view.shape[1]
        masked = unpatchify(torch.where(hidden, floor, patches), self.patch, channels)
        redrawn = unpatchify(torch.where(hidden, prediction.float(), patches), self.patch, channels)
        return {"input": to_display(view), "masked": to_display(masked), "reconstruction": to_display(redrawn)}


def _decoder_problem(cfg: MAEConfig) -> str | None:
    """Why the decoder's width cannot be split into its attention heads, if it cannot."""
    if cfg.decoder_dim % cfg.decoder_heads:
        return (f"the decoder width {cfg.decoder_dim} (decoder_dim) is not divisible by {cfg.decoder_heads} heads; "
                "choose a number of heads that divides it")
    return None
