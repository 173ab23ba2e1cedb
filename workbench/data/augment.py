"""Batched, per-sample random augmentations, run on the device the cached integer batch is on.

Every random number for a batch comes from one `torch.rand(B, N, generator=...)` draw, so the same
generator state gives the same views on any device. Crop, flips and rotation are one affine matrix
per sample, applied by a single `grid_sample`; the other transforms are tensor ops over the whole
batch, with samples that skip a transform getting its identity parameters. The order is fixed:
geometry, colour jitter, grayscale, blur, solarize, normalise, cut-out (cut-out fills with the mean).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from workbench.config import AugmentConfig

_LUMA = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
_LOG_RATIO = (math.log(3 / 4), math.log(4 / 3))
_CUTOUT_SIDE = (0.2, 0.5)  # cut-out rectangle sides, as fractions of the image side
_BLUR_SIGMA_MIN = 0.1
_NUM_DRAWS = 21


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8/uint16 images to float32 in [0, 1] (float input is returned as float32)."""
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    if images.dtype == torch.uint16:
        return images.float() / 65535.0
    return images.float()


class BatchAugmenter:
    """Random views of a batch of cached images: `augmenter(batch, generator) -> float32 (B, C, S, S)`.

    >>> augment = BatchAugmenter(AugmentConfig(), channels=1, image_size=64, mean=[0.3], std=[0.2])
    >>> views = augment(batch_uint8_on_device, torch.Generator().manual_seed(0))
    """

    def __init__(self, cfg: AugmentConfig, channels: int, image_size: int, mean: list[float],
                 std: list[float], colour: bool | None = None) -> None:
        """`colour`: whether the channels are RGB (saturation, hue, grayscale apply); default: 3 channels.
        Pass False for 2.5-D slice stacks, whose channels are neighbouring gray slices."""
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean/std need {channels} values, got {len(mean)} and {len(std)}")
        self.cfg = cfg
        self.channels = channels
        self.colour = channels == 3 if colour is None else colour and channels == 3
        self.image_size = image_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, channels, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, channels, 1, 1)
        radius = max(1, math.ceil(3 * cfg.blur_sigma_max))
        self.blur_radius = min(radius, image_size // 2 - 1)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """No augmentation: scale to [0, 1] and normalise with the dataset's mean and std."""
        x = to_unit(images)
        mean, std = self._statistics(x.device)
        return (x - mean) / std

    def _statistics(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The dataset's mean and std on `device`, copied there once (a copy per batch would wait for the GPU)."""
        if self.mean.device != device:
            self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self.mean, self.std

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch = images.shape[0]
        draws = torch.rand(batch, _NUM_DRAWS, generator=generator, device=generator.device).to(images.device)
        x = self._geometry(to_unit(images), draws)
        x = self._jitter(x, draws)
        if self.colour:
            gray = draws[:, 12] < self.cfg.grayscale_p
            x = torch.where(gray.view(-1, 1, 1, 1), luminance(x).expand_as(x), x)
        x = self._blur(x, draws)
        if self.cfg.solarize_p > 0:
            solarize = (draws[:, 15] < self.cfg.solarize_p).view(-1, 1, 1, 1)
            x = torch.where(solarize & (x >= 0.5), 1.0 - x, x)
        mean, std = self._statistics(x.device)
        return self._cutout((x - mean) / std, draws)

    def _geometry(self, x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Random resized crop, flips and rotation as one per-sample affine map, one grid_sample."""
        cfg = self.cfg
        area = cfg.crop_scale_min + (cfg.crop_scale_max - cfg.crop_scale_min) * draws[:, 0]
        ratio = torch.exp(_LOG_RATIO[0] + (_LOG_RATIO[1] - _LOG_RATIO[0]) * draws[:, 1])
        half_w, half_h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)  # crop sides as fractions
        too_big = (half_w > 1) | (half_h > 1)  # that aspect ratio does not fit: a square crop, as torchvision
        half_w = torch.where(too_big, torch.sqrt(area), half_w)
        half_h = torch.where(too_big, torch.sqrt(area), half_h)
        shift_x = (2 * draws[:, 2] - 1) * (1 - half_w)
        shift_y = (2 * draws[:, 3] - 1) * (1 - half_h)
        flip_x = torch.where(draws[:, 4] < cfg.hflip_p, -1.0, 1.0)
        flip_y = torch.where(draws[:, 5] < cfg.vflip_p, -1.0, 1.0)
        angle = (2 * draws[:, 6] - 1) * math.radians(cfg.rotation_degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # input = diag(half_w, half_h) @ rotation @ diag(flip_x, flip_y) @ output + shift
        theta = torch.stack([
            torch.stack([half_w * cos * flip_x, -half_w * sin * flip_y, shift_x], dim=1),
            torch.stack([half_h * sin * flip_x, half_h * cos * flip_y, shift_y], dim=1),
        ], dim=1)
        return F.grid_sample(x, affine_grid(theta, x.shape[-2], x.shape[-1]), mode="bilinear",
                             padding_mode="zeros", align_corners=False)

    def _jitter(self, x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Brightness and contrast (and saturation and hue on colour images), each sample its own.

        All four are linear in the pixels, so they are folded into one per-sample matrix and offset and
        applied in one pass with one clamp at the end (instead of a pass and a clamp per transform)."""
        cfg = self.cfg
        apply = draws[:, 7] < cfg.color_jitter_p

        def factor(column: int, strength: float) -> torch.Tensor:
            value = 1 + (2 * draws[:, column] - 1) * strength
            return torch.where(apply, value, torch.ones_like(value))

        brightness, contrast = factor(8, cfg.brightness), factor(9, cfg.contrast)
        # contrast pulls towards the mean gray of the brightened image: b * mean(gray(x))
        mean = (luminance(x) if self.colour else x).mean(dim=(1, 2, 3)) * brightness
        offset = ((1 - contrast) * mean).view(-1, 1, 1, 1)
        scale = brightness * contrast
        if not self.colour:
            return (x * scale.view(-1, 1, 1, 1) + offset).clamp(0, 1)
        # saturation and hue rotation leave gray unchanged, so the offset passes through them as it is
        saturation = factor(10, cfg.saturation).view(-1, 1, 1)
        to_gray = _constant(_LUMA, x.dtype, x.device).expand(3, 3)
        identity = torch.eye(3, dtype=x.dtype, device=x.device)
        saturate = saturation * identity + (1 - saturation) * to_gray
        hue = torch.where(apply, (2 * draws[:, 11] - 1) * cfg.hue * 2 * math.pi, torch.zeros_like(draws[:, 11]))
        matrix = scale.view(-1, 1, 1) * hue_rotation(hue) @ saturate
        return (torch.einsum("bij,bjhw->bihw", matrix, x) + offset).clamp(0, 1)

    def _blur(self, x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Gaussian blur with a per-sample sigma, as two grouped 1-D convolutions (delta kernel = no blur)."""
        if self.cfg.blur_p <= 0 or self.blur_radius < 1:
            return x
        batch, channels, height, width = x.shape
        sigma = _BLUR_SIGMA_MIN + (self.cfg.blur_sigma_max - _BLUR_SIGMA_MIN) * draws[:, 14]
        offsets = torch.arange(-self.blur_radius, self.blur_radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-offsets.view(1, -1) ** 2 / (2 * sigma.view(-1, 1) ** 2))
        kernel = kernel / kernel.sum(dim=1, keepdim=True)
        identity = (offsets == 0).to(x.dtype).expand_as(kernel)
        kernel = torch.where((draws[:, 13] < self.cfg.blur_p).view(-1, 1), kernel, identity)
        kernel = kernel.repeat_interleave(channels, dim=0)  # (B*C, K), one per image channel
        size = kernel.shape[1]
        flat = F.pad(x.reshape(1, batch * channels, height, width), [self.blur_radius] * 4, mode="reflect")
        flat = F.conv2d(flat, kernel.view(-1, 1, 1, size), groups=batch * channels)
        flat = F.conv2d(flat, kernel.view(-1, 1, size, 1), groups=batch * channels)
        return flat.view(batch, channels, height, width)

    def _cutout(self, x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Zero (= the mean, after normalising) a random rectangle in the chosen samples."""
        if self.cfg.mask_p <= 0:
            return x
        batch, _, height, width = x.shape
        low, high = _CUTOUT_SIDE
        side_w, side_h = low + (high - low) * draws[:, 17], low + (high - low) * draws[:, 18]
        left, top = draws[:, 19] * (1 - side_w), draws[:, 20] * (1 - side_h)
        cols = (torch.arange(width, device=x.device, dtype=x.dtype) + 0.5) / width
        rows = (torch.arange(height, device=x.device, dtype=x.dtype) + 0.5) / height
        inside_x = (cols.view(1, -1) >= left.view(-1, 1)) & (cols.view(1, -1) < (left + side_w).view(-1, 1))
        inside_y = (rows.view(1, -1) >= top.view(-1, 1)) & (rows.view(1, -1) < (top + side_h).view(-1, 1))
        mask = inside_y.view(batch, 1, height, 1) & inside_x.view(batch, 1, 1, width)
        mask &= (draws[:, 16] < self.cfg.mask_p).view(-1, 1, 1, 1)
        return x.masked_fill(mask, 0.0)


def affine_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """What `F.affine_grid(theta, (B, C, height, width), align_corners=False)` gives, built by broadcasting:
    with a 3-wide inner dimension the batched matrix product there is several times slower on the CPU."""
    xs = (2 * torch.arange(width, device=theta.device, dtype=theta.dtype) + 1) / width - 1
    ys = (2 * torch.arange(height, device=theta.device, dtype=theta.dtype) + 1) / height - 1
    xs, ys = xs.view(1, 1, width), ys.view(1, height, 1)
    t = theta.view(-1, 6, 1, 1)
    grid_x = t[:, 0] * xs + t[:, 1] * ys + t[:, 2]
    grid_y = t[:, 3] * xs + t[:, 4] * ys + t[:, 5]
    return torch.stack([grid_x, grid_y], dim=-1)


@functools.lru_cache(maxsize=32)
def _constant(values: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A constant table on `device`, made once: a fresh copy per batch would wait for the GPU."""
    return torch.tensor(values, dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _yiq_matrices(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB -> YIQ and its inverse on `device` (inverted on the CPU: an inverse on the GPU checks its result
    on the host, which waits for the GPU)."""
    to_yiq = torch.tensor(_RGB_TO_YIQ, dtype=dtype)
    return to_yiq.to(device), torch.linalg.inv(to_yiq).to(device)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Gray value (B, 1, H, W) of 1- or 3-channel images."""
    if x.shape[1] == 1:
        return x
    weights = _constant(_LUMA, x.dtype, x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def hue_rotation(angle: torch.Tensor) -> torch.Tensor:
    """Per-sample 3x3 RGB matrices that rotate hue by `angle` radians (a rotation in YIQ space)."""
    to_yiq, from_yiq = _yiq_matrices(angle.dtype, angle.device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    rotate = torch.stack([torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1),
                          torch.stack([zero, sin, cos], 1)], 1)
    return from_yiq @ rotate @ to_yiq
