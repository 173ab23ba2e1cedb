"""ResNets and ViTs from torchvision, adapted to 1 or 3 channels and small images. Never downloads weights.

torchvision is imported only when one of its networks is built: importing it takes seconds (it loads
torch's compiler stack), which the small CNN and the app's start-up need not wait for.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from workbench.models.encoder import Family

if TYPE_CHECKING:
    from torchvision import models


def resnet_body(depth: int, in_channels: int, small_image_stem: bool) -> tuple[nn.Module, int]:
    """A torchvision ResNet-`depth` without its classifier; returns (network, feature size)."""
    from torchvision import models

    builders = {18: models.resnet18, 50: models.resnet50}
    net = builders[depth](weights=None)
    if small_image_stem:
        # 3x3 stride-1 stem without max-pool keeps spatial detail in 32-96 px images (as for CIFAR).
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    embed_dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, embed_dim


def vit_body(in_channels: int, image_size: int, patch_size: int, hidden_dim: int, depth: int,
             heads: int) -> tuple[nn.Module, int]:
    """A torchvision VisionTransformer whose output is the class token; returns (network, feature size)."""
    if image_size % patch_size:
        raise ValueError(f"ViT: image size {image_size} is not a multiple of the patch size {patch_size}")
    from torchvision import models

    net = models.VisionTransformer(image_size=image_size, patch_size=patch_size, num_layers=depth,
                                   num_heads=heads, hidden_dim=hidden_dim, mlp_dim=4 * hidden_dim)
    if in_channels != 3:
        # torchvision hard-codes 3 input channels in the patch embedding.
        conv = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size)
        nn.init.trunc_normal_(conv.weight, std=(1.0 / (in_channels * patch_size**2)) ** 0.5)
        nn.init.zeros_(conv.bias)
        net.conv_proj = conv
    net.heads = nn.Identity()
    return net, hidden_dim


class ResNetFamily(Family):
    """torchvision ResNets; their state dict (without `body.`) is torchvision's layout, the stem as configured."""

    def __init__(self, depth: int, small_image_stem: bool):
        self.depth, self.small_image_stem = depth, small_image_stem

    def feature_map(self, body: models.ResNet, images: torch.Tensor) -> torch.Tensor:
        """The last stage's (B, C, h, w) feature map, before pooling."""
        x = body.maxpool(body.relu(body.bn1(body.conv1(images))))
        return body.layer4(body.layer3(body.layer2(body.layer1(x))))

    def first_conv(self, body: nn.Module) -> str:
        return "conv1"

    def architecture(self, body: nn.Module, in_channels: int) -> dict[str, Any]:
        stem = "3x3 stride-1 conv1, no max-pool" if self.small_image_stem else "torchvision's"
        return {"library": "torchvision", "architecture": f"resnet{self.depth}", "in_chans": in_channels,
                "num_classes": 0, "stem": stem, "note": "fc is Identity; conv1 takes in_chans channels"}


class VitFamily(Family):
    """torchvision VisionTransformers: tokens, class token first (see `vit_tokens`)."""

    is_vit = True

    def input_size(self, body: models.VisionTransformer) -> int:
        return body.image_size

    def patch_size(self, body: models.VisionTransformer) -> int:
        return body.patch_size

    def tokens(self, body: models.VisionTransformer, images: torch.Tensor, keep: torch.Tensor | None,
               attn_mask: torch.Tensor | None) -> torch.Tensor:
        return vit_tokens(body, images, keep, attn_mask)

    def first_conv(self, body: nn.Module) -> str:
        return "conv_proj"

    def architecture(self, body: models.VisionTransformer, in_channels: int) -> dict[str, Any]:
        return {"library": "torchvision", "architecture": "VisionTransformer", "in_chans": in_channels,
                "image_size": body.image_size, "patch_size": body.patch_size, "hidden_dim": body.hidden_dim,
                "num_layers": len(body.encoder.layers), "note": "heads is Identity; conv_proj takes in_chans"}


def vit_tokens(net: models.VisionTransformer, images: torch.Tensor, keep: torch.Tensor | None = None,
               attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The ViT's output tokens (B, 1 + N, D): the class token, then the patch tokens in raster order.

    With `keep` (B, K) patch indices, only those patches enter the transformer (as MAE's encoder needs):
    each keeps its own position embedding, and the result is (B, 1 + K, D). With `keep=None` the class
    token equals what the network's forward returns. `attn_mask` (L, L) or (B, L, L) bool over the
    L = 1 + K tokens, True = may not attend, limits what each token sees (causal tasks).
    """
    patches = net._process_input(images)
    position = net.encoder.pos_embedding
    patches = patches + position[:, 1:]
    if keep is not None:
        patches = patches.gather(1, keep.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))
    cls = (net.class_token + position[:, :1]).expand(patches.shape[0], -1, -1)
    tokens = net.encoder.dropout(torch.cat([cls, patches], dim=1))
    if attn_mask is None:
        return net.encoder.ln(net.encoder.layers(tokens))
    for block in net.encoder.layers:
        if attn_mask.ndim == 3:  # one mask per image -> one per (image, head), as attention wants it
            block_mask = attn_mask.repeat_interleave(block.self_attention.num_heads, dim=0)
        else:
            block_mask = attn_mask
        tokens = _masked_block(block, tokens, block_mask)
    return net.encoder.ln(tokens)


def _masked_block(block: nn.Module, tokens: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
    """torchvision's ViT EncoderBlock.forward, with an attention mask (the block itself takes none)."""
    x = block.ln_1(tokens)
    x, _ = block.self_attention(x, x, x, attn_mask=attn_mask, need_weights=False)
    x = block.dropout(x) + tokens
    return x + block.mlp(block.ln_2(x))
