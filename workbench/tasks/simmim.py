"""SimMIM: blank random squares of the input; the encoder's feature map, through one linear layer, redraws them."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.config import RunConfig, TaskConfig, setting
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.display import to_display
from workbench.tasks.losses import masked_reconstruction_loss
from workbench.tasks.patches import patch_grid_problem, pixel_mask, random_patch_mask
from workbench.tasks.pixel_head import PixelShuffleHead, predict_pixels
from workbench.tasks.registry import register_task


@dataclass
class SimMIMConfig(TaskConfig):
    """Settings of SimMIM."""

    mask_ratio: float = setting(0.6, "Fraction of the image hidden.", min=0.05, max=0.95)
    mask_patch_size: int = setting(8, "Side of a hidden square, in pixels. The image side must be a multiple; "
                                      "with a ViT also make it a multiple of the ViT's patch size.",
                                   min=2, max=256)
    loss: str = setting("l1", "Pixel error on the hidden squares: l1 (as in the paper) or mse.",
                        choices=("l1", "mse"))


@register_task("simmim")
class SimMIM(PretextTask):
    """Random squares of the image are blanked out; the model must redraw their pixels.

    A random 60% of the view, in squares of `mask_patch_size` pixels, is replaced by a learnt fill value.
    The whole masked image goes through the encoder (so it works with convolutional backbones as well as
    ViTs), and a one-layer head maps each cell of the encoder's feature map to the pixels it covers. The
    loss (L1 by default) counts only the hidden pixels. No negatives are needed; light crops and flips are
    enough augmentation.

    How it fails: hidden squares much smaller than the encoder's feature stride can be filled from their
    neighbours (raise `mask_patch_size` or the ratio); blurry predictions are expected. Features are
    usually weaker under kNN / linear probes than contrastive ones, and stronger after fine-tuning.
    `masked_error` is the reconstruction error on the hidden pixels.

    Paper: "SimMIM: A Simple Framework for Masked Image Modeling" (Xie, Zhang, Cao, Lin, Bao, Yao, Dai, Hu,
    2022).
    """

    title = "SimMIM"
    description = "Masked modelling (CNN or ViT): redraw the pixels of squares blanked in the input."
    Config = SimMIMConfig
    family = "masked prediction"
    trains_class_token = False

    def __init__(self, cfg: SimMIMConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        self.fill = nn.Parameter(torch.zeros(1, encoder.in_channels, 1, 1))
        self.head = PixelShuffleHead(embed_dim, encoder.in_channels, encoder.feature_stride())

    @classmethod
    def config_problems(cls, cfg: SimMIMConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        """The hidden squares must tile the image, 2 x 2 of them at least."""
        problem = patch_grid_problem(config.data.image_size, cfg.mask_patch_size)
        return [(cls.setting_path("mask_patch_size"), problem)] if problem else []

    def _mask(self, view: torch.Tensor) -> torch.Tensor:
        side, square = view.shape[-1], self.cfg.mask_patch_size
        problem = patch_grid_problem(side, square)
        if problem:
            raise ValueError(f"simmim.mask_patch_size {problem}")
        cells = random_patch_mask(view.shape[0], (side // square) ** 2, self.cfg.mask_ratio, view.device)
        return pixel_mask(cells, square, side).to(view.dtype)

    def _reconstruct(self, view: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return predict_pixels(self.encoder, self.head, view * (1 - hidden) + self.fill.to(view.dtype) * hidden)

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        view = augment(images)
        hidden = self._mask(view)
        prediction, embeddings = self._reconstruct(view, hidden)
        per_sample = masked_reconstruction_loss(prediction, view, hidden, self.cfg.loss)
        return TaskOutput(loss=per_sample.mean(), embeddings=embeddings.detach(), per_sample_loss=per_sample.detach(),
                          metrics={"masked_error": per_sample.detach().mean()})

    @torch.no_grad()
    def render_example(self, images: torch.Tensor, augment: Augment) -> dict[str, torch.Tensor]:
        """The view, the masked input, and the visible pixels plus the redrawn hidden ones."""
        view = augment(images)
        hidden = self._mask(view)
        prediction, _ = self._reconstruct(view, hidden)
        floor = view.amin(dim=(1, 2, 3), keepdim=True)
        return {"input": to_display(view), "masked": to_display(view * (1 - hidden) + floor * hidden),
                "reconstruction": to_display(view * (1 - hidden) + prediction * hidden)}
