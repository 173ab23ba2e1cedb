"""Reconstruction: restore a corrupted view (noise, holes, or missing colour) from what is left."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.config import RunConfig, TaskConfig, setting
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.display import to_display
from workbench.tasks.patches import patch_grid_problem, pixel_mask, random_patch_mask
from workbench.tasks.pixel_head import PixelShuffleHead, predict_pixels
from workbench.tasks.registry import register_task

LUMA = (0.299, 0.587, 0.114)


@dataclass
class ReconstructionConfig(TaskConfig):
    """Settings of reconstruction."""

    mode: str = setting("denoise_inpaint", "What is taken away: noise added, square holes cut, both, or the "
                                           "colour (colour images only).",
                        choices=("denoise_inpaint", "denoise", "inpaint", "colorize"))
    noise_std: float = setting(0.5, "Standard deviation of the added Gaussian noise, in normalised intensity "
                                    "units (1 = one dataset standard deviation).", min=0.0, max=5.0)
    hole_ratio: float = setting(0.25, "Fraction of the image covered by holes.", min=0.0, max=0.9)
    hole_size: int = setting(8, "Side of a square hole, in pixels; the image side must be a multiple of it.",
                             min=2, max=256)


@register_task("reconstruction")
class Reconstruction(PretextTask):
    """Part of each image is taken away; the model must put it back.

    A view is corrupted, the encoder turns the corrupted view into a feature map, and a light one-layer
    decoder predicts the clean view's pixels (mean squared error over the image). Corruptions:
    denoising (Gaussian noise added), inpainting (square holes filled with the mean intensity), both at
    once (the default, suited to grayscale scans), or colorization (the model sees the gray luminance and
    must give the colours back; colour data only). No negatives are needed.

    Typical augmentations: light crops and flips; strong colour jitter makes colorization ill-posed. How it
    fails: the features can stay low-level (local smoothing suffices for light noise), so use strong
    noise or large holes; blurry average predictions are normal. Compare `reconstruction_mse` with
    `corrupted_mse` (the error of returning the corrupted input): the first should fall clearly below.

    Papers: "Extracting and Composing Robust Features with Denoising Autoencoders" (Vincent, Larochelle,
    Bengio, Manzagol, 2008); "Context Encoders: Feature Learning by Inpainting" (Pathak, Krähenbühl, Donahue,
    Darrell, Efros, 2016); "Colorful Image Colorization" (Zhang, Isola, Efros, 2016).
    """

    title = "Image restoration"
    description = "Restore a corrupted view: remove noise, fill holes, or give a gray image its colours back."
    Config = ReconstructionConfig
    family = "masked prediction"
    trains_class_token = False

    def __init__(self, cfg: ReconstructionConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        channels = encoder.in_channels
        if cfg.mode == "colorize" and channels != 3:
            raise ValueError(f"colorization needs colour images (3 channels), but the data have {channels}; "
                             "use mode denoise, inpaint or denoise_inpaint for grayscale data")
        self.decoder = PixelShuffleHead(embed_dim, channels, encoder.feature_stride())

    @classmethod
    def config_problems(cls, cfg: ReconstructionConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        """Holes, when cut, must tile the image, 2 x 2 of them at least."""
        problem = patch_grid_problem(config.data.image_size, cfg.hole_size) if cls._cuts_holes(cfg) else None
        return [(cls.setting_path("hole_size"), problem)] if problem else []

    @staticmethod
    def _cuts_holes(cfg: ReconstructionConfig) -> bool:
        return cfg.mode in ("inpaint", "denoise_inpaint") and cfg.hole_ratio > 0

    def corrupt(self, view: torch.Tensor) -> torch.Tensor:
        """The corrupted version of a normalised view, as the encoder sees it."""
        cfg = self.cfg
        if cfg.mode == "colorize":
            luma = torch.tensor(LUMA, device=view.device, dtype=view.dtype).view(1, 3, 1, 1)
            return (view * luma).sum(1, keepdim=True).expand_as(view)
        corrupted = view
        if cfg.mode in ("denoise", "denoise_inpaint"):
            corrupted = corrupted + cfg.noise_std * torch.randn_like(view)
        if self._cuts_holes(cfg):
            side = view.shape[-1]
            problem = patch_grid_problem(side, cfg.hole_size)
            if problem:
                raise ValueError(f"reconstruction.hole_size {problem}")
            cells = (side // cfg.hole_size) ** 2
            holes = pixel_mask(random_patch_mask(view.shape[0], cells, cfg.hole_ratio, view.device),
                               cfg.hole_size, side)
            corrupted = corrupted * (1 - holes)  # 0 is the dataset mean in normalised units
        return corrupted

    def _restore(self, corrupted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return predict_pixels(self.encoder, self.decoder, corrupted)

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        view = augment(images)
        corrupted = self.corrupt(view)
        prediction, embeddings = self._restore(corrupted)
        per_sample = (prediction.float() - view.float()).square().mean(dim=(1, 2, 3))
        with torch.no_grad():
            baseline = (corrupted.float() - view.float()).square().mean()
        return TaskOutput(loss=per_sample.mean(), embeddings=embeddings.detach(), per_sample_loss=per_sample.detach(),
                          metrics={"reconstruction_mse": per_sample.detach().mean(), "corrupted_mse": baseline})

    @torch.no_grad()
    def render_example(self, images: torch.Tensor, augment: Augment) -> dict[str, torch.Tensor]:
        """The clean view, the corrupted input and the model's reconstruction."""
        view = augment(images)
        corrupted = self.corrupt(view)
        prediction, _ = self._restore(corrupted)
        return {"input": to_display(view), "corrupted": to_display(corrupted),
                "reconstruction": to_display(prediction)}
