"""Batched per-sample augmentations: determinism, shapes, dtypes, and what each transform does."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from workbench.config import AugmentConfig
from workbench.data import BatchAugmenter

IDENTITY = AugmentConfig(crop_scale_min=1.0, crop_scale_max=1.0, hflip_p=0.0, vflip_p=0.0, rotation_degrees=0.0,
                         color_jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, solarize_p=0.0, mask_p=0.0)


def batch(channels=1, size=32, count=8, dtype=torch.uint8, seed=0):
    top = 255 if dtype == torch.uint8 else 65535
    values = torch.randint(0, top + 1, (count, channels, size, size), generator=torch.Generator().manual_seed(seed))
    return values.to(dtype)


def augmenter(cfg=None, channels=1, size=32):
    return BatchAugmenter(cfg or AugmentConfig(rotation_degrees=20, vflip_p=0.5, solarize_p=0.3, mask_p=0.5),
                          channels, size, [0.4] * channels, [0.25] * channels)


@pytest.mark.parametrize("channels", [1, 3])
def test_same_generator_state_same_views(channels):
    images, augment = batch(channels), augmenter(channels=channels)
    first = augment(images, torch.Generator().manual_seed(3))
    again = augment(images, torch.Generator().manual_seed(3))
    other = augment(images, torch.Generator().manual_seed(4))
    assert first.shape == images.shape and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.allclose(first, other)


def test_each_sample_gets_its_own_parameters():
    same = batch(count=1).expand(6, -1, -1, -1).contiguous()
    views = augmenter()(same, torch.Generator().manual_seed(0))
    assert all(not torch.allclose(views[0], views[index]) for index in range(1, 6))


def test_uint16_batch_and_normalize():
    images = batch(dtype=torch.uint16)
    augment = augmenter()
    assert augment(images, torch.Generator().manual_seed(0)).shape == (8, 1, 32, 32)
    expected = (images.float() / 65535 - 0.4) / 0.25
    assert torch.allclose(augment.normalize(images), expected, atol=1e-6)


def test_identity_settings_only_normalize():
    images, augment = batch(channels=3), augmenter(IDENTITY, channels=3)
    assert torch.allclose(augment(images, torch.Generator().manual_seed(0)), augment.normalize(images), atol=1e-5)


def test_flips_compose_into_the_affine_map():
    images = batch()
    augment = augmenter(dataclasses.replace(IDENTITY, hflip_p=1.0, vflip_p=1.0))
    flipped = augment(images, torch.Generator().manual_seed(0))
    assert torch.allclose(flipped, augment.normalize(images).flip(-1).flip(-2), atol=1e-5)


def test_crop_zooms_in():
    ramp = torch.linspace(0, 255, 32).round().to(torch.uint8).expand(4, 1, 32, 32).contiguous()
    augment = augmenter(dataclasses.replace(IDENTITY, crop_scale_min=0.1, crop_scale_max=0.1))
    views = augment(ramp, torch.Generator().manual_seed(0))
    spread = views.amax(dim=(1, 2, 3)) - views.amin(dim=(1, 2, 3))
    full = augment.normalize(ramp)
    assert bool((spread < 0.6 * (full.max() - full.min())).all())  # a crop sees a narrower intensity range


def test_blur_smooths_and_cutout_fills_with_the_mean():
    images = batch(count=4)
    smooth = augmenter(dataclasses.replace(IDENTITY, blur_p=1.0, blur_sigma_max=2.0))(images, torch.Generator())
    smooth_std = smooth.std(dim=(1, 2, 3))
    sharp_std = augmenter(IDENTITY).normalize(images).std(dim=(1, 2, 3))
    assert bool((smooth_std < sharp_std).all()) and smooth_std.mean() < 0.7 * sharp_std.mean()  # sigma varies
    masked = augmenter(dataclasses.replace(IDENTITY, mask_p=1.0))(images, torch.Generator().manual_seed(1))
    zero_share = (masked == 0).float().mean(dim=(1, 2, 3))
    assert bool(((zero_share > 0.03) & (zero_share < 0.3)).all())


def test_grayscale_and_colour_jitter_on_colour_images():
    images = batch(channels=3)
    gray = augmenter(dataclasses.replace(IDENTITY, grayscale_p=1.0), channels=3)(images, torch.Generator())
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1e-5) and torch.allclose(gray[:, 1], gray[:, 2], atol=1e-5)
    jitter = dataclasses.replace(IDENTITY, color_jitter_p=1.0, hue=0.5, saturation=0.8)
    views = augmenter(jitter, channels=3)(images, torch.Generator().manual_seed(0))
    assert views.shape == images.shape and not torch.allclose(views, augmenter(IDENTITY, channels=3).normalize(images))


def test_solarize_inverts_bright_values():
    images = torch.tensor([[[[0, 64, 200, 255]]]], dtype=torch.uint8).expand(2, 1, 4, 4).contiguous()
    augment = BatchAugmenter(dataclasses.replace(IDENTITY, solarize_p=1.0), 1, 4, [0.0], [1.0])
    row = augment(images, torch.Generator())[0, 0, 0]
    assert torch.allclose(row, torch.tensor([0, 64, 55, 0]) / 255, atol=1e-6)


def test_mean_and_std_must_match_channels():
    with pytest.raises(ValueError):
        BatchAugmenter(AugmentConfig(), 3, 32, [0.5], [0.5])


def test_slice_stacks_get_no_colour_transforms():
    """2.5-D stacks (colour=False) keep each channel's values: no hue, saturation or grayscale mixing."""
    cfg = dataclasses.replace(IDENTITY, color_jitter_p=1.0, brightness=0.0, contrast=0.0, saturation=1.0, hue=0.5,
                              grayscale_p=1.0)
    images = batch(3, size=16)
    stacked = BatchAugmenter(cfg, 3, 16, [0.0] * 3, [1.0] * 3, colour=False)
    colour = BatchAugmenter(cfg, 3, 16, [0.0] * 3, [1.0] * 3)
    generator = torch.Generator().manual_seed(0)
    torch.testing.assert_close(stacked(images, generator), images.float() / 255, atol=1e-5, rtol=0)
    assert not torch.allclose(colour(images, torch.Generator().manual_seed(0)), images.float() / 255, atol=1e-2)
    five = BatchAugmenter(AugmentConfig(), 5, 16, [0.4] * 5, [0.25] * 5)
    assert five(batch(5, size=16), torch.Generator().manual_seed(1)).shape == (8, 5, 16, 16)


def test_affine_grid_matches_torch():
    from workbench.data.augment import affine_grid

    theta = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.affine_grid(theta, [5, 1, 12, 20], align_corners=False)
    assert torch.allclose(affine_grid(theta, 12, 20), expected, atol=1e-6)


def test_folded_colour_jitter_matches_the_transforms_one_after_another():
    """Brightness, contrast, saturation, hue applied in turn (no clamps between) give the folded result."""
    import math

    from workbench.data.augment import hue_rotation, luminance

    images = batch(channels=3, count=6)
    cfg = dataclasses.replace(IDENTITY, color_jitter_p=1.0, brightness=0.4, contrast=0.4, saturation=0.6, hue=0.2)
    augment = BatchAugmenter(cfg, 3, 32, [0.0] * 3, [1.0] * 3)
    got = augment(images, torch.Generator().manual_seed(5))
    draws = torch.rand(6, 21, generator=torch.Generator().manual_seed(5))
    x = images.float() / 255
    b, c, s = (1 + (2 * draws[:, i] - 1) * strength for i, strength in ((8, 0.4), (9, 0.4), (10, 0.6)))
    x = x * b.view(-1, 1, 1, 1)
    mean = luminance(x).mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c.view(-1, 1, 1, 1) + mean
    gray = luminance(x)
    x = (x - gray) * s.view(-1, 1, 1, 1) + gray
    x = torch.einsum("bij,bjhw->bihw", hue_rotation((2 * draws[:, 11] - 1) * 0.2 * 2 * math.pi), x)
    assert torch.allclose(got, x.clamp(0, 1), atol=1e-5)
