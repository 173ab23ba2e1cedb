"""Siemens specifics read from the private CSA header (through nibabel's `csareader`): the slices packed
into a MOSAIC image, and the diffusion b-value and gradient direction of older Siemens files."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pydicom


def csa_header(dataset: pydicom.Dataset) -> dict | None:
    """The parsed CSA image header, or None when the file has none (or it cannot be parsed)."""
    if (0x0029, 0x0010) not in dataset:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel.nicom warns on import that its DICOM readers are experimental
        from nibabel.nicom import csareader
        try:
            return csareader.get_csa_header(dataset)
        except (csareader.CSAError, ValueError, KeyError, IndexError, TypeError):
            return None


def csa_value(csa: dict | None, name: str) -> list:
    """The items of one CSA tag (empty when absent)."""
    if csa is None:
        return []
    return list(csa.get("tags", {}).get(name, {}).get("items", []))


def mosaic_count(dataset: pydicom.Dataset, csa: dict | None) -> int | None:
    """How many slices a MOSAIC image packs (ImageType MOSAIC and the CSA NumberOfImagesInMosaic); else None."""
    image_type = [str(value).upper() for value in (dataset.get("ImageType") or [])]
    count = csa_value(csa, "NumberOfImagesInMosaic")
    return int(count[0]) if "MOSAIC" in image_type and count and int(count[0]) > 1 else None


def unpack_mosaic(pixels: np.ndarray, count: int) -> np.ndarray:
    """A mosaic (H, W) as its `count` slices (count, h, w): tiles of a ceil(sqrt(count)) grid, row by row."""
    grid = math.ceil(math.sqrt(count))
    height, width = pixels.shape[0] // grid, pixels.shape[1] // grid
    tiles = [pixels[(k // grid) * height:(k // grid + 1) * height, (k % grid) * width:(k % grid + 1) * width]
             for k in range(count)]
    return np.stack(tiles)


def mosaic_positions(dataset: pydicom.Dataset, csa: dict | None, count: int,
                     orientation: tuple[float, ...], first: float) -> list[float]:
    """Each mosaic slice's place along the normal of `orientation` (mm): the first at `first` (the mosaic's
    ImagePositionPatient is off in-plane only), the others a slice spacing apart in the direction of the
    CSA SliceNormalVector."""
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    spacing = float(dataset.get("SpacingBetweenSlices") or dataset.get("SliceThickness") or 1.0)
    slice_normal = csa_value(csa, "SliceNormalVector")
    sign = -1.0 if len(slice_normal) == 3 and float(np.dot(np.asarray(slice_normal, float), normal)) < 0 else 1.0
    return [first + sign * spacing * index for index in range(count)]
