"""Cutting images into patches and tiles, and random patch masks: shared by the masked, puzzle and
autoregressive tasks."""
from __future__ import annotations

import torch

MIN_TILE = 4
"""Smallest tile side, in pixels, that `grid_tiles` cuts."""


def patch_grid_problem(side: int, patch: int) -> str | None:
    """Why square patches of `patch` pixels cannot cut a `side`-pixel image into at least 2 x 2 of them (the
    masked and autoregressive tasks hide or predict some patches from the others), or None."""
    if side % patch:
        return f"must divide the image side, data.image_size ({side}), got {patch}"
    if side < 2 * patch:
        return f"must be at most half the image side, data.image_size ({side}), for 2 x 2 patches; got {patch}"
    return None


def tile_problem(side: int, grid: int, gap: int) -> str | None:
    """Why `grid_tiles` cannot cut `side`-pixel images into grid x grid tiles `gap` pixels apart, or None."""
    tile = side // grid - gap
    if tile >= MIN_TILE:
        return None
    return (f"{grid}x{grid} tiles of data.image_size {side} px, {gap} px apart (gap), would be {tile} px; tiles need "
            f"at least {MIN_TILE} px: use a smaller grid or gap, or larger images")


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C * patch * patch), patches in raster order (row by row)."""
    b, c, h, w = images.shape
    if h % patch or w % patch:
        raise ValueError(f"image side {h}x{w} is not a multiple of the patch size {patch}")
    x = images.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), c * patch * patch)


def unpatchify(patches: torch.Tensor, patch: int, channels: int) -> torch.Tensor:
    """The inverse of `patchify` for square images: (B, N, C * patch * patch) -> (B, C, H, W)."""
    b, n, _ = patches.shape
    side = int(round(n ** 0.5))
    x = patches.reshape(b, side, side, channels, patch, patch)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, channels, side * patch, side * patch)


def masked_count(patches: int, ratio: float) -> int:
    """Patches a mask of `ratio` hides out of `patches`: round(ratio * N), at least 1 and at most N-1."""
    return min(max(int(round(ratio * patches)), 1), patches - 1)


def random_patch_mask(batch: int, patches: int, ratio: float, device: torch.device) -> torch.Tensor:
    """(B, N) bool, True = masked: `masked_count(patches, ratio)` random patches per image."""
    count = masked_count(patches, ratio)
    order = torch.rand(batch, patches, device=device).argsort(dim=1)
    mask = torch.zeros(batch, patches, dtype=torch.bool, device=device)
    return mask.scatter_(1, order[:, :count], True)


def normalize_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each patch to zero mean and unit variance over its own pixels (MAE's normalised-pixel target)."""
    mean = patches.mean(-1, keepdim=True)
    var = patches.var(-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


def pixel_mask(mask: torch.Tensor, patch: int, side: int) -> torch.Tensor:
    """(B, N) patch mask -> (B, 1, side, side) float pixel mask (1 = masked), N in raster order."""
    grid = side // patch
    cells = mask.float().view(-1, 1, grid, grid)
    return cells.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)


def grid_tiles(images: torch.Tensor, grid: int, gap: int) -> torch.Tensor:
    """Cut each image into grid x grid cells and take one tile from each, in raster order.

    A tile is the cell less `gap` pixels, at a random offset inside its cell (per image and tile), so that
    neighbouring tiles never share an edge: tasks cannot be solved by continuing lines across tile borders.
    Returns (B, grid * grid, C, tile, tile).
    """
    b, c, h, w = images.shape
    problem = tile_problem(min(h, w), grid, gap)
    if problem:
        raise ValueError(problem)
    cell = min(h, w) // grid
    tile = cell - gap
    count = grid * grid
    offset = torch.randint(0, gap + 1, (b, count, 2), device=images.device)
    corner = torch.stack(torch.meshgrid(torch.arange(grid, device=images.device),
                                        torch.arange(grid, device=images.device), indexing="ij"), -1)
    start = corner.view(1, count, 2) * cell + offset  # (B, T, 2) top-left (row, column)
    steps = torch.arange(tile, device=images.device)
    rows = (start[..., 0, None] + steps).view(b, count, tile, 1)
    cols = (start[..., 1, None] + steps).view(b, count, 1, tile)
    pixels = images.permute(0, 2, 3, 1)[torch.arange(b, device=images.device).view(b, 1, 1, 1), rows, cols]
    return pixels.permute(0, 1, 4, 2, 3)  # (B, T, C, tile, tile)
