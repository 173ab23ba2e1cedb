"""Where each frame of a DICOM image lies in the patient: its SOP Instance UID and frame number (what a
segmentation or a structure set refers to) and its pixel grid in patient coordinates (mm), read from the header
(per frame from the functional groups of an enhanced multi-frame file). The UIDs stay in memory only."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from workbench.data.dicom import pixel_spacing
from workbench.data.dicom_groups import functional_group_item
from workbench.data.readers import DICOM_EXTENSIONS, looks_like_dicom

DEFAULT_THICKNESS_MM = 1.0
"""A slice's thickness when its header does not say: contours within half of it lie on the slice."""


@dataclass(frozen=True)
class ImagePlane:
    """One frame of a DICOM image: `sop_uid` and `frame` (0-based) identify it; `origin` is the centre of its
    first pixel, `row_direction` the direction of growing column index, `column_direction` that of growing
    row index (unit vectors), `spacing` (between rows, between columns) in mm; None where the header lacks it."""

    sop_uid: str
    frame: int
    rows: int
    columns: int
    frame_of_reference: str = ""
    origin: np.ndarray | None = None
    row_direction: np.ndarray | None = None
    column_direction: np.ndarray | None = None
    spacing: tuple[float, float] | None = None
    thickness: float = DEFAULT_THICKNESS_MM

    @property
    def located(self) -> bool:
        """Whether the frame's place in the patient is known (so contours in mm can be drawn on it)."""
        return self.origin is not None and self.row_direction is not None and self.spacing is not None

    @property
    def normal(self) -> np.ndarray:
        """The unit normal of the frame's plane (row direction x column direction)."""
        return np.cross(self.row_direction, self.column_direction)

    def to_pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patient points (N, 3) in mm as (column, row) pixel coordinates (pixel centres at whole numbers) and
        their distances from the frame's plane in mm."""
        offset = points - self.origin
        return (offset @ self.row_direction / self.spacing[1], offset @ self.column_direction / self.spacing[0],
                np.abs(offset @ self.normal))


def image_planes(path: Path) -> list[ImagePlane]:
    """Every frame of the DICOM image at `path`, from its header; [] for a file that is not a DICOM image."""
    if path.suffix.lower() not in DICOM_EXTENSIONS and not looks_like_dicom(path):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception:  # unreadable now: the scan has already said why, or the file changed since
            return []
    uid = str(dataset.get("SOPInstanceUID", "") or "")
    if not uid:
        return []
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    reference = str(dataset.get("FrameOfReferenceUID", "") or "")
    return [ImagePlane(uid, frame, rows, columns, reference, *_geometry(dataset, frame, frames))
            for frame in range(frames)]


def _geometry(dataset: pydicom.Dataset, frame: int, frames: int) -> tuple:
    """(origin, row direction, column direction, spacing, thickness) of one frame; Nones where unknown."""
    position_source = dataset if "ImagePositionPatient" in dataset and frames == 1 else functional_group_item(
        dataset, frame, "PlanePositionSequence")
    orientation_source = dataset if "ImageOrientationPatient" in dataset else functional_group_item(
        dataset, frame, "PlaneOrientationSequence")
    measures = functional_group_item(dataset, frame, "PixelMeasuresSequence")
    thickness = dataset.get("SliceThickness") or (measures.get("SliceThickness") if measures is not None else None)
    try:
        origin = _vector(position_source.ImagePositionPatient, 3)
        orientation = _vector(orientation_source.ImageOrientationPatient, 6)
    except (AttributeError, TypeError, ValueError):
        return None, None, None, None, DEFAULT_THICKNESS_MM
    if origin is None or orientation is None:
        return None, None, None, None, DEFAULT_THICKNESS_MM
    try:
        thickness = float(thickness) if thickness else DEFAULT_THICKNESS_MM
    except (TypeError, ValueError):
        thickness = DEFAULT_THICKNESS_MM
    return origin, orientation[:3], orientation[3:], pixel_spacing(dataset, frame), thickness


def _vector(values, length: int) -> np.ndarray | None:
    vector = np.array([float(value) for value in values])
    return vector if vector.shape == (length,) and np.all(np.isfinite(vector)) else None


@dataclass
class Structure:
    """One named structure of a mask source (a SEG segment, an RTSTRUCT ROI) on a list of planes: `covered`
    holds the indices of the planes it annotates, `masks` the boolean (rows, columns) mask of each covered
    plane where it is present (a covered plane without one does not contain it)."""

    name: str
    number: int
    covered: set[int]
    masks: dict[int, np.ndarray]
