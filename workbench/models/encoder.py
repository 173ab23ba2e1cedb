"""The encoder interface every backbone follows."""
from __future__ import annotations

import torch
from torch import nn

from workbench.models.small_cnn import small_cnn_feature_map
from workbench.models.torchvision_nets import is_torchvision_net, resnet_feature_map, vit_tokens


class Encoder(nn.Module):
    """An image encoder: (B, C, H, W) float images -> (B, embed_dim) pooled features.

    Wraps a network `body` that already ends in pooled features (its classifier replaced by Identity),
    so every backbone has the same state-dict layout (`body.*`) and the same attributes.
    Tasks that need spatial features use `feature_map`; ViT-only tasks (MAE) use `tokens`.
    """

    def __init__(self, body: nn.Module, embed_dim: int, in_channels: int):
        super().__init__()
        self.body = body
        self.embed_dim = embed_dim
        self.in_channels = in_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

    @property
    def is_vit(self) -> bool:
        return is_torchvision_net(self.body, "VisionTransformer")

    @property
    def input_size(self) -> int | None:
        """The one image side the encoder accepts (ViTs), or None when any size works (CNNs)."""
        return self.body.image_size if self.is_vit else None

    @property
    def patch_size(self) -> int | None:
        """The ViT's patch side in pixels; None for CNNs."""
        return self.body.patch_size if self.is_vit else None

    def tokens(self, images: torch.Tensor, keep: torch.Tensor | None = None,
               attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ViTs only: (B, 1 + N, D) output tokens, class token first; `keep` (B, K) runs only those patches;
        `attn_mask` (L, L) or (B, L, L) bool, True = may not attend, limits what each token sees."""
        if not self.is_vit:
            raise ValueError("token outputs need a ViT backbone (vit_tiny, vit_small)")
        return vit_tokens(self.body, images, keep, attn_mask)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) spatial features before pooling; a ViT's patch tokens laid out on their grid."""
        if self.is_vit:
            patches = self.tokens(images)[:, 1:]
            side = images.shape[-1] // self.body.patch_size
            return patches.transpose(1, 2).reshape(patches.shape[0], -1, side, side)
        if is_torchvision_net(self.body, "ResNet"):
            return resnet_feature_map(self.body, images)
        return small_cnn_feature_map(self.body, images)

    @torch.no_grad()
    def feature_stride(self) -> int:
        """How many input pixels one step of `feature_map` covers (measured once on a blank image)."""
        side = self.input_size or 64
        was_training = self.training
        self.eval()  # no BatchNorm statistics updates from the probe
        probe = next(self.parameters())
        features = self.feature_map(torch.zeros(1, self.in_channels, side, side, device=probe.device,
                                                dtype=probe.dtype))
        self.train(was_training)
        return side // features.shape[-1]
