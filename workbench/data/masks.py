"""Masks of a folder's images: DICOM Segmentations (SEG, read with highdicom) and RT Structure Sets (RTSTRUCT, see
`rtstruct`) that refer to images of the scanned folder.

They are not training images (the scan skips them by SOP Class, see `sop_classes`), but after the scan each one is
matched to the image frames it refers to (by SOP Instance UID and frame, or for contours that name no image by
their plane): every image it annotates records its structures by name (`ImageRecord.masks`), and its skipped entry
says it was offered as masks. A source that annotates none of the folder's images stays skipped, saying so.
`read_masks` gives an image's masks in its own pixel grid (the preview draws them); `label_by_structure` turns one
structure into a region label ("<name>" / "no <name>"). UIDs stay in memory; segment and ROI names are kept.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pydicom
from pydicom.uid import UID, RTStructureSetStorage, SegmentationStorage

from workbench.data.image_planes import ImagePlane, Structure, image_planes
from workbench.data.records import ImageRecord, MaskRef, SkippedFile
from workbench.data.rtstruct import rtstruct_structures
from workbench.data.sop_classes import LABEL_MAP_SEGMENTATION, not_an_image, sop_class
from workbench.data.unreadable import describe_error

if TYPE_CHECKING:
    from highdicom.seg import Segmentation

_SEGMENTATIONS = (SegmentationStorage, LABEL_MAP_SEGMENTATION)
_OFFERED = {**dict.fromkeys(_SEGMENTATIONS, "segmentation of {count} image{s} in this folder: offered as masks"),
            RTStructureSetStorage: "structure set (contours) on {count} image{s} in this folder: offered as masks"}
_SOURCE_REASONS = {not_an_image(UID(uid)) for uid in _OFFERED}
"""The skipped-file reasons of the SOP Classes that can be mask sources."""
NONE_HERE = "the images it refers to are not in this folder"
_UID = re.compile(r"\d+(?:\.\d+){3,}")


class MaskSourceError(ValueError):
    """A SEG or RTSTRUCT file that cannot be read as masks."""


def attach_masks(root: Path, images: list[ImageRecord], skipped: list[SkippedFile]) -> list[SkippedFile]:
    """Match the folder's SEG and RTSTRUCT files (among `skipped`) to the scanned `images`: fill each image's
    `masks` and return `skipped` with their entries saying whether they were offered as masks."""
    sources = [index for index, item in enumerate(skipped) if item.reason in _SOURCE_REASONS]
    if not sources:
        return skipped
    planes, owners = _planes_of(root, images)
    result = list(skipped)
    for index in sources:
        item = skipped[index]
        try:
            found = source_structures(root / item.path, planes)
        except MaskSourceError as error:
            result[index] = SkippedFile(item.path, f"{item.reason}; not usable as masks ({error})")
            continue
        if found is None:
            continue  # e.g. a surface segmentation: a mesh, not a mask
        kind, structures = found
        annotated = {owners[plane] for structure in structures for plane in structure.covered}
        for structure in structures:
            for plane in sorted(structure.covered):
                mask = structure.masks.get(plane)
                images[owners[plane]].masks.setdefault(structure.name, MaskRef(
                    item.path, structure.number, int(mask.sum()) if mask is not None else 0))
        reason = (_OFFERED[kind].format(count=len(annotated), s="s" if len(annotated) != 1 else "") if annotated
                  else f"{item.reason} ({NONE_HERE})")
        result[index] = SkippedFile(item.path, reason)
    return result


def source_structures(path: Path, planes: list[ImagePlane]) -> tuple[UID, list[Structure]] | None:
    """The SOP Class and the structures of the SEG or RTSTRUCT file at `path` on `planes`; None for any other
    file. Raises `MaskSourceError` when it cannot be read as masks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dataset = pydicom.dcmread(path, force=True)
        except Exception as error:
            raise MaskSourceError(_without_uids(describe_error(error, path))) from None
        kind = sop_class(dataset)
        try:
            if kind in _SEGMENTATIONS:
                from highdicom.seg import Segmentation  # a heavy import, for folders with masks only

                return kind, seg_structures(Segmentation.from_dataset(dataset, copy=False), planes)
            if kind == RTStructureSetStorage:
                return kind, rtstruct_structures(dataset, planes)
        except Exception as error:  # a malformed object fails in many ways inside highdicom or the contours
            raise MaskSourceError(_without_uids(describe_error(error, path))) from None
    return None


def seg_structures(seg: Segmentation, planes: list[ImagePlane]) -> list[Structure]:
    """A segmentation's segments on the `planes` of the images it was made from (its source images); a frame of
    a source image that the SEG leaves out (SEGs omit empty frames) does not contain them."""
    referenced = {uid for _study, _series, uid in seg.get_source_image_uids()}
    frames_of = Counter(plane.sop_uid for plane in planes)
    covered = [index for index, plane in enumerate(planes) if plane.sop_uid in referenced]
    numbers = list(seg.segment_numbers)
    masks: dict[int, np.ndarray] = {}  # plane index -> (rows, columns, segments)
    single = [index for index in covered if frames_of[planes[index].sop_uid] == 1]
    if single:
        pixels = seg.get_pixels_by_source_instance([planes[index].sop_uid for index in single],
                                                   segment_numbers=numbers, assert_missing_frames_are_empty=True)
        masks.update(zip(single, pixels))
    for uid in dict.fromkeys(planes[index].sop_uid for index in covered if index not in masks):
        indices = [index for index in covered if planes[index].sop_uid == uid]
        pixels = seg.get_pixels_by_source_frame(uid, [planes[index].frame + 1 for index in indices],
                                                segment_numbers=numbers, assert_missing_frames_are_empty=True)
        masks.update(zip(indices, pixels))
    for index, pixels in masks.items():
        if pixels.shape[:2] != (planes[index].rows, planes[index].columns):
            raise MaskSourceError(f"its pixel grid ({pixels.shape[1]} x {pixels.shape[0]}) differs from its "
                                  f"images' ({planes[index].columns} x {planes[index].rows})")
    structures = []
    for channel, number in enumerate(numbers):
        present = {index: pixels[..., channel].astype(np.float32) >= 0.5 for index, pixels in masks.items()}
        name = str(seg.get_segment_description(number).segment_label or f"segment {number}").strip()
        structures.append(Structure(name, number, set(covered), {index: mask for index, mask in present.items()
                                                                 if mask.any()}))
    return structures


def read_masks(root: Path, record: ImageRecord) -> dict[str, np.ndarray]:
    """The masks of the structures `record` (an image under `root`) contains, by name: boolean arrays in the
    image's own pixel grid (rows, columns). Raises `MaskSourceError` when a source cannot be read any more."""
    present = {name: ref for name, ref in record.masks.items() if ref.pixels}
    if not present:
        return {}
    planes = image_planes(Path(root) / record.path)
    masks = {}
    for source in dict.fromkeys(ref.source for ref in present.values()):
        found = source_structures(Path(root) / source, planes)
        by_number = {structure.number: structure for structure in (found[1] if found else [])}
        for name, ref in present.items():
            structure = by_number.get(ref.number) if ref.source == source else None
            if structure is not None and record.frame in structure.masks:
                masks[name] = structure.masks[record.frame]
    return masks


def structure_names(images: list[ImageRecord]) -> list[str]:
    """The names of the structures any of `images` is annotated with, sorted."""
    return sorted({name for record in images for name in record.masks})


def structure_counts(images: list[ImageRecord]) -> dict[str, int]:
    """How many of `images` contain each structure, by name, sorted by name."""
    counts = Counter(name for record in images for name, ref in record.masks.items() if ref.pixels)
    return {name: counts.get(name, 0) for name in structure_names(images)}


def label_by_structure(images: list[ImageRecord], name: str) -> None:
    """Label each image annotated for structure `name` "<name>" when it contains it, else "no <name>"; images not
    annotated for it get no label. Raises ValueError naming the structure when no image is annotated for it."""
    known = structure_names(images)
    if name not in known:
        found = (f"the structures found are {', '.join(known)}" if known else
                 "no segmentation (SEG) or structure set (RTSTRUCT) here refers to its images")
        raise ValueError(f"data.mask_label: no image of this folder is annotated with a structure named {name!r}; "
                         f"{found}")
    for record in images:
        ref = record.masks.get(name)
        record.label = None if ref is None else name if ref.pixels else f"no {name}"


def _without_uids(reason: str) -> str:
    """A reason with any DICOM UID in it (they identify studies and patients) replaced by "<uid>"."""
    return _UID.sub("<uid>", reason)


def _planes_of(root: Path, images: list[ImageRecord]) -> tuple[list[ImagePlane], list[int]]:
    """The planes of the scanned DICOM frames, and for each the index of its image in `images`."""
    where = {(record.path, record.frame): index for index, record in enumerate(images)}
    planes, owners = [], []
    for path in dict.fromkeys(record.path for record in images):
        for plane in image_planes(root / path):
            index = where.get((path, plane.frame))
            if index is not None:
                planes.append(plane)
                owners.append(index)
    return planes, owners
