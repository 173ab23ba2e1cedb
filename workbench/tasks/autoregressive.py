"""Next-patch prediction: read the image patch by patch in raster order and predict each next patch's pixels."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.config import RunConfig, TaskConfig, setting
from workbench.models import backbone_patch_size
from workbench.tasks.base import Augment, BatchContext, PretextTask, TaskOutput
from workbench.tasks.display import to_display
from workbench.tasks.losses import masked_reconstruction_loss
from workbench.tasks.patches import normalize_patches, patch_grid_problem, patchify, unpatchify
from workbench.tasks.registry import register_task


@dataclass
class NextPatchConfig(TaskConfig):
    """Settings of next-patch prediction."""

    normalized_target: bool = setting(True, "Predict each patch's pixels normalised to its own mean and spread "
                                            "(as MAE does) instead of the raw normalised pixels.")
    prefix_attention: bool = setting(True, "Each image starts with a random number of patches (at least one) "
                                           "that see each other freely and are not predicted; the rest are "
                                           "predicted one by one (AIM). This trains the encoder for the full "
                                           "attention it gets after training. Off: strictly causal, every patch "
                                           "after the first is predicted (iGPT).", label="Prefix attention")
    cnn_patch_size: int = setting(8, "Convolutional backbones: side of a patch in pixels; the image side must be "
                                     "a multiple. ViTs predict their own patches (model.patch_size).",
                                  min=4, max=256, label="Patch size (CNN)")
    head_dim: int = setting(128, "Width of the causal transformer head (a multiple of 4 and of the head's "
                                 "attention heads).", min=16, max=4096, advanced=True)
    head_depth: int = setting(1, "Transformer layers in the causal head.", min=1, max=8, advanced=True)
    head_heads: int = setting(4, "Attention heads in the causal head.", min=1, max=64, advanced=True)


def prefix_causal_mask(length: int, prefix: torch.Tensor) -> torch.Tensor:
    """(B, L, L) bool attention mask, True = may not attend, for prefix lengths `prefix` (B,) >= 1.

    Position i sees position j when j <= i (causal), and the first `prefix` positions also see each other.
    """
    steps = torch.arange(length, device=prefix.device)
    later = steps.view(1, 1, length) > steps.view(1, length, 1)  # (1, i, j): j after i
    outside_prefix = steps.view(1, 1, length) >= prefix.view(-1, 1, 1)
    return later & outside_prefix


def counted_guesses(prefix: torch.Tensor, patches: int) -> torch.Tensor:
    """(B, N - 1) bool: guess t (for patch t + 1) counts in the loss when patch t + 1 is outside the prefix."""
    steps = torch.arange(1, patches, device=prefix.device)
    return steps.view(1, -1) >= prefix.view(-1, 1)


def next_patch_loss(guesses: torch.Tensor, targets: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared error per image of `guesses` (B, N - 1, P), guess t for patch t + 1 of `targets`
    (B, N, P), over the patches after the prefix."""
    counted = counted_guesses(prefix, targets.shape[1]).unsqueeze(-1)
    return masked_reconstruction_loss(guesses, targets[:, 1:], counted)


def grid_positions(rows: int, cols: int, dim: int, device: torch.device) -> torch.Tensor:
    """(rows * cols, dim) fixed 2D sine-cosine position codes in raster order; `dim` a multiple of 4.

    Fixed, not learnt, so one head works for any image size (a CNN's patch count is known only per batch).
    """
    quarter = dim // 4
    frequencies = 1.0 / 10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter)

    def codes(count: int) -> torch.Tensor:
        angles = torch.arange(count, device=device, dtype=torch.float32).unsqueeze(1) * frequencies
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (count, dim / 2)

    row_codes = codes(rows).unsqueeze(1).expand(rows, cols, 2 * quarter)
    col_codes = codes(cols).unsqueeze(0).expand(rows, cols, 2 * quarter)
    return torch.cat([row_codes, col_codes], dim=2).reshape(rows * cols, dim)


@register_task("next_patch")
class NextPatch(PretextTask):
    """Read the image patch by patch, row by row, and predict the pixels of each next patch.

    The view is cut into square patches in raster order (left to right, top to bottom). A small causal
    transformer head looks at the encoder's features of patches 0..t and predicts the pixels of patch t + 1
    (mean squared error; with the normalised target each patch is compared after normalising it to its own
    mean and spread). With prefix attention (on by default) a random number of leading patches per image
    is given as context, they see each other freely and are not predicted; every later patch is. No
    negatives are needed; light crops and flips are enough augmentation.

    The target must never reach the features that predict it, so each backbone reads the patches so that a
    patch's features depend on that patch and earlier ones only:
    - ViT: one pass with a causal attention mask over the ViT's own patches (patch t attends to patches
      0..t and to the prefix; the class token counts as part of the prefix). Every other part of a ViT works
      on one token at a time.
    - CNN: each patch (`cnn_patch_size` pixels) is encoded on its own as a small image, so its features see
      nothing else. BatchNorm would still mix patches through its batch statistics, so the patches are
      encoded one raster position at a time: a statistic then only covers patches at that same position.
      This costs one encoder call per position; the head then brings the patches together, causally.
    The causal head attends the same way, so the guess for patch t + 1 depends on patches 0..t only.

    How it fails: neighbouring patches look alike, so copying the previous patch is already a fair guess;
    `copy_previous_mse` is that baseline's error on the same patches, and the loss should fall clearly below
    it (with the normalised target, a flat guess scores 1.0). Blurry guesses are expected: the next patch
    is uncertain and squared error averages the possibilities. A CNN trained on small patches sees whole
    images only after training, so its features can be weaker than the patch-level loss suggests; raise
    `cnn_patch_size` if probes disappoint. `target_cosine` is the cosine between guessed and true patches
    (with the normalised target, their correlation): it rises from 0 as the guesses gain structure.

    Papers: "Generative Pretraining from Pixels" (iGPT; Chen, Radford, Child, Wu, Jun, Luan, Sutskever,
    2020) and "Scalable Pre-training of Large Autoregressive Image Models" (AIM; El-Nouby, Klein, Zhai,
    Bautista, Toshev, Shankar, Susskind, Joulin, 2024).
    """

    title = "Next-patch prediction"
    description = "Autoregressive (CNN or ViT): predict each next patch, in raster order, from the ones before it."
    Config = NextPatchConfig
    family = "masked prediction"
    trains_class_token = False

    def __init__(self, cfg: NextPatchConfig, encoder: nn.Module, embed_dim: int):
        super().__init__(cfg, encoder, embed_dim)
        problem = _head_problem(cfg)
        if problem:
            raise ValueError(f"next_patch.head_dim: {problem}")
        self.patch = encoder.patch_size if encoder.is_vit else cfg.cnn_patch_size
        self.head_embed = nn.Linear(embed_dim, cfg.head_dim)
        layer = nn.TransformerEncoderLayer(cfg.head_dim, cfg.head_heads, 4 * cfg.head_dim, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.head = nn.TransformerEncoder(layer, cfg.head_depth, enable_nested_tensor=False)
        self.head_norm = nn.LayerNorm(cfg.head_dim)
        self.to_pixels = nn.Linear(cfg.head_dim, encoder.in_channels * self.patch * self.patch)

    @classmethod
    def config_problems(cls, cfg: NextPatchConfig, config: RunConfig, kind: str) -> list[tuple[str, str]]:
        """The patches read in raster order must be 2 x 2 at least."""
        vit = kind == "vit"
        problems = [(cls.setting_path("head_dim"), _head_problem(cfg))] if _head_problem(cfg) else []
        patch = backbone_patch_size(config.model) if vit else cfg.cnn_patch_size
        problem = patch_grid_problem(config.data.image_size, patch)
        if problem:
            problems.append(("model.patch_size", f"{cls.name} reads the ViT's patches: {problem}") if vit
                            else (cls.setting_path("cnn_patch_size"), problem))
        return problems

    def _grid(self, view: torch.Tensor) -> tuple[int, int]:
        """(rows, columns) of patches in the view."""
        height, width = view.shape[-2:]
        problem = patch_grid_problem(height, self.patch) or patch_grid_problem(width, self.patch)
        if problem:
            setting_name = "model.patch_size" if self.encoder.is_vit else "next_patch.cnn_patch_size"
            raise ValueError(f"{setting_name} {problem}")
        return height // self.patch, width // self.patch

    def draw_prefix(self, batch: int, patches: int, device: torch.device) -> torch.Tensor:
        """(B,) prefix lengths: uniform in 1..N-1 with prefix attention, else 1 (only patch 0 is not predicted)."""
        if not self.cfg.prefix_attention:
            return torch.ones(batch, dtype=torch.long, device=device)
        return torch.randint(1, patches, (batch,), device=device)

    def patch_features(self, view: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """(B, N, D) encoder features of the view's patches in raster order; patch t's see patches 0..t and
        the prefix only."""
        rows, cols = self._grid(view)
        if self.encoder.is_vit:
            mask = prefix_causal_mask(1 + rows * cols, prefix + 1)  # + 1: the class token leads the prefix
            return self.encoder.tokens(view, attn_mask=mask)[:, 1:]
        batch, channels = view.shape[:2]
        crops = patchify(view, self.patch).view(batch, rows * cols, channels, self.patch, self.patch)
        # One call per raster position: BatchNorm's batch statistics then never mix in a later patch.
        return torch.stack([self.encoder(crops[:, t]) for t in range(rows * cols)], dim=1)

    def predict(self, view: torch.Tensor, prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Guesses (B, N - 1, C * p * p), guess t for patch t + 1, and the (B, N, D) patch features."""
        features = self.patch_features(view, prefix)
        rows, cols = self._grid(view)
        positions = grid_positions(rows, cols, self.cfg.head_dim, view.device)
        mask = prefix_causal_mask(rows * cols, prefix).repeat_interleave(self.cfg.head_heads, dim=0)
        hidden = self.head(self.head_embed(features) + positions.to(features.dtype), mask=mask)
        return self.to_pixels(self.head_norm(hidden[:, :-1])), features

    def targets(self, view: torch.Tensor) -> torch.Tensor:
        """(B, N, C * p * p) the view's patches in raster order, normalised per patch if so configured."""
        patches = patchify(view.float(), self.patch)
        return normalize_patches(patches) if self.cfg.normalized_target else patches

    def training_step(self, images: torch.Tensor, augment: Augment,
                      context: BatchContext | None = None) -> TaskOutput:
        view = augment(images)
        rows, cols = self._grid(view)
        prefix = self.draw_prefix(view.shape[0], rows * cols, view.device)
        guesses, features = self.predict(view, prefix)
        targets = self.targets(view)
        per_sample = next_patch_loss(guesses, targets, prefix)
        return TaskOutput(loss=per_sample.mean(), embeddings=features.mean(1).detach(),
                          per_sample_loss=per_sample.detach(),
                          metrics=self._health(guesses.detach(), targets, prefix))

    @torch.no_grad()
    def _health(self, guesses: torch.Tensor, targets: torch.Tensor, prefix: torch.Tensor) -> dict[str, torch.Tensor]:
        """The copy-the-previous-patch baseline's error, and the cosine of guesses with true patches."""
        copy_previous = next_patch_loss(targets[:, :-1], targets, prefix).mean()
        counted = counted_guesses(prefix, targets.shape[1]).float()
        cosine = F.cosine_similarity(guesses.float(), targets[:, 1:], dim=-1)
        return {"copy_previous_mse": copy_previous,
                "target_cosine": (cosine * counted).sum() / counted.sum().clamp_min(1)}

    @torch.no_grad()
    def render_example(self, images: torch.Tensor, augment: Augment) -> dict[str, torch.Tensor]:
        """The view; each patch replaced by its guess from the patches before it (strictly causal, patch 0
        kept as it is); and the absolute error of those guesses.

        A normalised-target guess is shown at the true patch's own mean and spread (as MAE's figures do).
        """
        view = augment(images)
        prefix = torch.ones(view.shape[0], dtype=torch.long, device=view.device)
        guesses, _ = self.predict(view, prefix)
        patches = patchify(view.float(), self.patch)
        guesses = guesses.float()
        if self.cfg.normalized_target:
            later = patches[:, 1:]
            std = (later.var(-1, keepdim=True, unbiased=False) + 1e-6).sqrt()
            guesses = guesses * std + later.mean(-1, keepdim=True)
        predicted = torch.cat([patches[:, :1], guesses], dim=1)
        channels = view.shape[1]
        return {"input": to_display(view),
                "predicted": to_display(unpatchify(predicted, self.patch, channels)),
                "error": to_display(unpatchify((predicted - patches).abs(), self.patch, channels))}


def _head_problem(cfg: NextPatchConfig) -> str | None:
    """Why the prediction head's width does not fit its heads (and its 4 positional parts), if it does not."""
    if cfg.head_dim % cfg.head_heads or cfg.head_dim % 4:
        return (f"the head width {cfg.head_dim} must be a multiple of 4 and of the {cfg.head_heads} heads "
                "(head_heads)")
    return None
