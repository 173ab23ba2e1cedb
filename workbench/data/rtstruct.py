"""RT Structure Sets as masks: each ROI's closed planar contours (points in patient mm) drawn into the pixel grid
of the image frames they lie on.

A contour lies on the frames its Contour Image Sequence names; a contour that names none lies on the frames of
the ROI's frame of reference whose plane it is within half a slice thickness of. An ROI annotates the frames it is
drawn on and every located frame of its frame of reference parallel to them (one without its contours does not
contain it; a reformat in another orientation is not annotated). Several contours of one ROI on one frame combine
by the even-odd rule, so a contour inside another cuts a hole. A pixel belongs to a contour
when its centre lies inside the polygon.
"""
from __future__ import annotations

import math

import numpy as np
import pydicom

from workbench.data.image_planes import ImagePlane, Structure

CLOSED_CONTOUR = "CLOSED_PLANAR"
PARALLEL_COSINE = 0.999
"""Planes whose normals agree to this cosine (about 2.6 degrees) are parallel."""


def rtstruct_structures(dataset: pydicom.Dataset, planes: list[ImagePlane]) -> list[Structure]:
    """The ROIs of a structure set with closed contours, as masks on `planes` (others, e.g. points, left out)."""
    rois = {int(item.ROINumber): (str(item.get("ROIName", "") or f"ROI {item.ROINumber}").strip(),
                                  str(item.get("ReferencedFrameOfReferenceUID", "") or ""))
            for item in dataset.get("StructureSetROISequence", []) if "ROINumber" in item}
    by_reference = {(plane.sop_uid, plane.frame): index for index, plane in enumerate(planes)}
    structures = []
    for roi in dataset.get("ROIContourSequence", []):
        number = int(roi.get("ReferencedROINumber", 0) or 0)
        name, reference = rois.get(number, (f"ROI {number}", ""))
        contours = [contour for contour in roi.get("ContourSequence", [])
                    if contour.get("ContourGeometricType") == CLOSED_CONTOUR and contour.get("ContourData")]
        if not contours:
            continue
        in_reference = {index for index, plane in enumerate(planes)
                        if reference and plane.frame_of_reference == reference and plane.located}
        masks: dict[int, np.ndarray] = {}
        for contour in contours:
            points = np.array([float(value) for value in contour.ContourData]).reshape(-1, 3)
            for index in _contour_planes(contour, points, planes, by_reference, in_reference):
                plane = planes[index]
                columns, rows, _ = plane.to_pixels(points)
                drawn = fill_polygon(columns, rows, (plane.rows, plane.columns))
                masks[index] = masks[index] ^ drawn if index in masks else drawn
        present = {index: mask for index, mask in masks.items() if mask.any()}
        structures.append(Structure(name, number, set(masks) | _parallel(in_reference, set(masks), planes), present))
    return structures


def _parallel(candidates: set[int], drawn: set[int], planes: list[ImagePlane]) -> set[int]:
    """The `candidates` parallel to any of the `drawn` planes."""
    normals = [planes[index].normal for index in drawn]
    return {index for index in candidates
            if any(abs(float(planes[index].normal @ normal)) > PARALLEL_COSINE for normal in normals)}


def _contour_planes(contour: pydicom.Dataset, points: np.ndarray, planes: list[ImagePlane],
                    by_reference: dict[tuple[str, int], int], in_reference: set[int]) -> list[int]:
    """The indices of the located planes a contour lies on: those it names, else those it is within half a slice
    thickness of."""
    named = contour.get("ContourImageSequence")
    if named:
        found = (by_reference.get((str(item.get("ReferencedSOPInstanceUID", "")),
                                   int(item.get("ReferencedFrameNumber", 1) or 1) - 1)) for item in named)
        return [index for index in found if index is not None and planes[index].located]
    return [index for index in sorted(in_reference)
            if float(planes[index].to_pixels(points)[2].max()) <= planes[index].thickness / 2]


def fill_polygon(columns: np.ndarray, rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask of `shape`: the pixels whose centres lie inside the polygon with vertices (columns, rows)
    (pixel coordinates, centres at whole numbers), by the even-odd rule."""
    mask = np.zeros(shape, dtype=bool)
    if len(columns) < 3:
        return mask
    top, bottom = max(0, math.ceil(rows.min())), min(shape[0] - 1, math.floor(rows.max()))
    left, right = max(0, math.ceil(columns.min())), min(shape[1] - 1, math.floor(columns.max()))
    if top > bottom or left > right:
        return mask
    y, x = np.mgrid[top:bottom + 1, left:right + 1].astype(np.float64)
    inside = np.zeros(y.shape, dtype=bool)
    for x0, y0, x1, y1 in zip(columns, rows, np.roll(columns, -1), np.roll(rows, -1)):
        if y0 == y1:
            continue  # a horizontal edge crosses no row of centres
        crosses = (y0 > y) != (y1 > y)
        inside ^= crosses & (x < x0 + (y - y0) * (x1 - x0) / (y1 - y0))
    mask[top:bottom + 1, left:right + 1] = inside
    return mask
