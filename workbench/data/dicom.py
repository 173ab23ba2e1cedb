"""DICOM frames through pydicom (compressed syntaxes through pylibjpeg and its plugins).

The pixel pipeline, in order: stored values (BitsStored and signedness as pydicom decodes them), the
modality LUT (RescaleSlope/Intercept, per frame for enhanced multi-frame files: Hounsfield units for CT),
then the VOI LUT or a window (see `windows`: each frame's own window and VOI LUT function, from its
per-frame functional group in enhanced files), then MONOCHROME1 inversion. Values stay float32 until the
window is applied; the automatic window spans the whole volume (the multi-frame file, or the series range
the scan passes in, see `volume_windows`).

Every frame also carries `SliceFacts`: its position along the slice normal (from ImagePositionPatient
and ImageOrientationPatient, or the per-frame functional groups), its series and patient identity (raw,
in memory only) and whether it is a localizer.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from workbench.config import DataConfig
from workbench.data.dicom_groups import functional_group_item as _functional_group_item
from workbench.data.frame import Frame, SliceFacts
from workbench.data.series_facts import is_projection, is_scout, split_values
from workbench.data.siemens import csa_header, mosaic_count, mosaic_positions, unpack_mosaic
from workbench.data.sop_classes import is_image_class, not_an_image, sop_class
from workbench.data.unreadable import MAX_PIXELS, UnreadableImage, bomb_reason, describe_error
from workbench.data.windows import (FileWindow, foreground_share, needs_auto_window, percentile_range, voi_function,
                                    window_values)

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
ORIENTATION_DECIMALS = 3


def read_dicom_frames(path: Path, data_cfg: DataConfig, auto_range: tuple[float, float] | None = None) -> list[Frame]:
    """All frames of one DICOM file as `Frame`s (one per frame of a multi-frame file). `auto_range`: the
    automatic window's range decided for the file's series (default: over the file's own frames)."""
    dataset, forced = _open(path)
    kind = sop_class(dataset)
    if not_an_image(kind):
        raise UnreadableImage(not_an_image(kind))
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise UnreadableImage("not a DICOM file" if forced and not _looks_like_dicom(dataset)
                               else "DICOM has no pixel data" + (" (truncated file?)" if is_image_class(kind) else ""))
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    if rows * columns > MAX_PIXELS:
        raise UnreadableImage(bomb_reason(columns, rows))
    pixels = _decode_pixels(dataset, path)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    bits_stored = int(dataset.get("BitsStored", dataset.get("BitsAllocated", 8)) or 8)
    bit_depth = 8 if bits_stored <= 8 else 16

    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, dataset)
        samples, bits_stored = 3, 16 if pixels.dtype == np.uint16 else 8
    per_frame = pixels if pixels.ndim == (4 if samples == 3 else 3) else pixels[None]  # (frames, H, W[, 3])
    csa = csa_header(dataset)
    mosaic = mosaic_count(dataset, csa) if samples == 1 and len(per_frame) == 1 else None
    if mosaic:
        per_frame = unpack_mosaic(per_frame[0], mosaic)
    facts = slice_facts(dataset, len(per_frame), csa)
    spacings = [pixel_spacing(dataset, 0 if mosaic else index) for index in range(len(per_frame))]
    if samples == 3:
        scale = float(np.iinfo(per_frame.dtype).max) if per_frame.dtype.kind in "ui" else 1.0
        scale = min(scale, float(2 ** bits_stored - 1))
        return [Frame(np.clip(frame.astype(np.float32) / scale, 0.0, 1.0), bit_depth, 3, fact, spacing=spacing)
                for frame, fact, spacing in zip(per_frame, facts, spacings)]

    hounsfield = is_hounsfield(dataset)
    all_values = [modality_values(stored, dataset, index) for index, stored in enumerate(per_frame)]
    if auto_range is None and needs_auto_window(data_cfg, has_own_window(dataset, len(per_frame))):
        auto_range = percentile_range(np.stack(all_values))
    frames = []
    for index, values in enumerate(all_values):
        scaled = voi_values(values, dataset, data_cfg, index, auto_range)
        if photometric == "MONOCHROME1":
            scaled = 1.0 - scaled
        foreground = foreground_share(values, scaled, hounsfield)
        frames.append(Frame(scaled[..., None], bit_depth, 1, facts[index], foreground, spacing=spacings[index]))
    return frames


def modality_values(stored: np.ndarray, dataset: pydicom.Dataset, frame: int) -> np.ndarray:
    """One frame's stored values through the modality LUT, as float32 (HU for CT)."""
    rescale = _functional_group_item(dataset, frame, "PixelValueTransformationSequence")
    if rescale is not None and "RescaleSlope" in rescale and "RescaleSlope" not in dataset:
        slope, intercept = float(rescale.RescaleSlope), float(rescale.get("RescaleIntercept", 0.0))
        return stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    return np.asarray(apply_modality_lut(stored, dataset), dtype=np.float32)


def voi_values(values: np.ndarray, dataset: pydicom.Dataset, data_cfg: DataConfig, frame: int = 0,
               auto_range: tuple[float, float] | None = None) -> np.ndarray:
    """Frame `frame`'s modality values to [0, 1]: the file's VOI LUT when asked for the file's own and it has
    one, else a window (the frame's own, a preset, manual, or automatic over `auto_range`)."""
    if data_cfg.dicom_window == "file" and "VOILUTSequence" in dataset:
        lut = voi_lut(values, dataset.VOILUTSequence[0])
        if lut is not None:
            return lut
    return window_values(values, data_cfg, file_window(dataset, frame), auto_range)


def has_own_window(dataset: pydicom.Dataset, frames: int) -> bool:
    """Whether the file carries a VOI LUT or a window for any of its `frames` frames."""
    return "VOILUTSequence" in dataset or any(file_window(dataset, index) is not None for index in range(frames))


def voi_lut(values: np.ndarray, item: pydicom.Dataset) -> np.ndarray | None:
    """A VOI LUT Sequence item applied to modality values, scaled by the LUT's output range; None if malformed."""
    try:
        entries, first, bits = (int(value) for value in item.LUTDescriptor)
        table = np.asarray(item.LUTData, dtype=np.float32).ravel()
    except (AttributeError, TypeError, ValueError):
        return None
    entries = entries or 65536
    if table.size < entries or bits <= 0:
        return None
    if first > 32767 and float(values.min()) < 0:
        first -= 65536  # written as US, meant as SS: the LUT starts below zero (e.g. at -1024 HU)
    positions = np.clip(np.rint(values) - first, 0, entries - 1).astype(np.int64)
    return np.clip(table[positions] / np.float32(2 ** bits - 1), 0.0, 1.0)


def file_window(dataset: pydicom.Dataset, frame: int = 0) -> FileWindow | None:
    """Frame `frame`'s own window: WindowCenter/WindowWidth (first value when several) and VOILUTFunction of the
    dataset, else of the frame's VOI functional group (per frame, else shared), as for the rescale; or None."""
    source = dataset if "WindowCenter" in dataset else _functional_group_item(dataset, frame, "FrameVOILUTSequence")
    if source is None:
        return None
    center, width = source.get("WindowCenter"), source.get("WindowWidth")
    if center is None or width is None:
        return None
    try:
        center = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
        width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    except (TypeError, ValueError, IndexError):
        return None
    return FileWindow(center, width, voi_function(source.get("VOILUTFunction"))) if width > 0 else None


def pixel_spacing(dataset: pydicom.Dataset, frame: int = 0) -> tuple[float, float] | None:
    """Frame `frame`'s in-plane spacing in mm (between rows, between columns): PixelSpacing of the dataset or of
    its pixel-measures functional group, else ImagerPixelSpacing (a radiograph's, at the detector); or None."""
    source = dataset if "PixelSpacing" in dataset else _functional_group_item(dataset, frame, "PixelMeasuresSequence")
    values = source.get("PixelSpacing") if source is not None else None
    try:
        row, column = (float(value) for value in (values or dataset.get("ImagerPixelSpacing") or ()))
    except (TypeError, ValueError):
        return None
    return (row, column) if all(np.isfinite(value) and value > 0 for value in (row, column)) else None


def auto_window_facts(path: Path, data_cfg: DataConfig) -> SliceFacts | None:
    """The slice facts of a single-frame gray slice whose window is automatic, read from its header; None for
    any other file (a multi-frame or MOSAIC file spans its own frames, see `read_dicom_frames`)."""
    dataset, _ = _open(path, stop_before_pixels=True)
    gray = int(dataset.get("SamplesPerPixel", 1) or 1) == 1 and "PALETTE" not in str(
        dataset.get("PhotometricInterpretation", ""))
    csa = csa_header(dataset)
    if not gray or int(dataset.get("NumberOfFrames", 1) or 1) != 1 or mosaic_count(dataset, csa):
        return None
    if not needs_auto_window(data_cfg, has_own_window(dataset, 1)):
        return None
    return slice_facts(dataset, 1, csa)[0]


def slice_modality_values(path: Path) -> np.ndarray:
    """A single-frame file's modality values, float32 (HU for CT)."""
    dataset, _ = _open(path)
    return modality_values(_decode_pixels(dataset, path), dataset, 0)


def is_hounsfield(dataset: pydicom.Dataset) -> bool:
    """Whether modality values are Hounsfield units: a CT image, or a rescale type of HU."""
    return str(dataset.get("Modality", "")).upper() == "CT" or str(dataset.get("RescaleType", "")).upper() == "HU"


def slice_facts(dataset: pydicom.Dataset, frames: int, csa: dict | None = None) -> list[SliceFacts]:
    """Position, orientation, series and patient identity of each frame (see `SliceFacts`); `csa`: the Siemens
    CSA header (`siemens`), whose MOSAIC slices are the frames. A derived projection (MIP) has no slice
    place: it forms a volume of its own, in file order."""
    series = _text(dataset, "SeriesInstanceUID")
    group = next((f"{kind}:{value}" for kind, value in (("patient", _text(dataset, "PatientID")),
                                                          ("study", _text(dataset, "StudyInstanceUID")),
                                                          ("series", series)) if value), None)
    projection = is_projection(dataset)
    orientation = None if projection else _orientation(dataset)
    mosaic = mosaic_count(dataset, csa) if frames > 1 else None
    positions = _positions(dataset, 1 if mosaic else frames, orientation)
    if mosaic:
        positions = ([None] * frames if positions[0] is None else
                     mosaic_positions(dataset, csa, frames, orientation, positions[0]))
    if frames > 1:
        volume = f"{series}|{_text(dataset, 'SOPInstanceUID')}" if series else ""
    elif series and projection:
        volume = f"{series}|projection"
    elif series and positions[0] is not None:
        volume = series
    else:
        volume = None  # a single 2-D image (a radiograph, a photo): not part of a volume
    rounded = tuple(round(value, ORIENTATION_DECIMALS) + 0.0 for value in orientation) if orientation else None
    scout = is_scout(dataset)
    return [SliceFacts(volume, group, position, rounded, scout, split_values(dataset, frame, csa))
            for frame, position in enumerate(positions)]


def _text(dataset: pydicom.Dataset, keyword: str) -> str:
    return str(dataset.get(keyword, "") or "").strip()


def _orientation(dataset: pydicom.Dataset) -> tuple[float, ...] | None:
    source = dataset if "ImageOrientationPatient" in dataset else _functional_group_item(
        dataset, 0, "PlaneOrientationSequence")
    try:
        values = tuple(float(value) for value in source.ImageOrientationPatient)
    except (AttributeError, TypeError, ValueError):
        return None
    return values if len(values) == 6 else None


def _positions(dataset: pydicom.Dataset, frames: int, orientation: tuple[float, ...] | None) -> list[float | None]:
    """Each frame's ImagePositionPatient projected on the slice normal (row x column direction), in mm."""
    if orientation is None:
        return [None] * frames
    normal = np.cross(np.array(orientation[:3]), np.array(orientation[3:]))
    per_frame = [_functional_group_item(dataset, index, "PlanePositionSequence") for index in range(frames)]
    if frames > 1 and all(item is not None and "ImagePositionPatient" in item for item in per_frame):
        return [float(np.dot(_vector(item.ImagePositionPatient), normal)) for item in per_frame]
    if "ImagePositionPatient" not in dataset:
        return [None] * frames
    first = float(np.dot(_vector(dataset.ImagePositionPatient), normal))
    offsets = dataset.get("GridFrameOffsetVector")
    if frames > 1:
        if offsets is None or len(offsets) != frames:
            return [None] * frames
        return [first + float(offset) for offset in offsets]
    return [first]


def _vector(values) -> np.ndarray:
    return np.array([float(value) for value in values])


def _open(path: Path, stop_before_pixels: bool = False) -> tuple[pydicom.Dataset, bool]:
    """The dataset, and whether it had to be force-read (no preamble or meta header)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about many harmless oddities of real files
        try:
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels), False
        except InvalidDicomError:
            try:
                # a .dcm file without preamble/meta header
                return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True), True
            except Exception as error:
                raise UnreadableImage(f"not a DICOM file ({describe_error(error, path)})") from None


def _syntax_from_encoding(dataset: pydicom.Dataset) -> UID | None:
    """For a file without a meta header: the uncompressed transfer syntax pydicom found it written in."""
    implicit, little = getattr(dataset, "original_encoding", (None, None))
    if implicit is None:
        return None
    syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    dataset.file_meta = getattr(dataset, "file_meta", None) or FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = syntax
    return syntax


def _looks_like_dicom(dataset: pydicom.Dataset) -> bool:
    """A force-read dataset that has any of the identifying elements every real DICOM object carries."""
    return any(keyword in dataset for keyword in ("SOPClassUID", "Modality", "StudyInstanceUID", "Rows"))


def _decode_pixels(dataset: pydicom.Dataset, path: Path) -> np.ndarray:
    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        syntax = _syntax_from_encoding(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return dataset.pixel_array
        except Exception as error:
            if syntax is not None and syntax.is_compressed:
                if "missing dependencies" in str(error) or "no pixel data decoders" in str(error):
                    raise UnreadableImage(f"compressed DICOM ({syntax.name}) and no decoder installed: "
                                          "install pylibjpeg") from None
                raise UnreadableImage(f"compressed DICOM ({syntax.name}) that the installed decoders "
                                      "(pylibjpeg, Pillow) cannot decode") from None
            short = re.search(r"less than expected \((\d+) vs (\d+) bytes\)", str(error))
            detail = f"truncated file: {short[1]} of {short[2]} bytes" if short else describe_error(error, path)
            raise UnreadableImage(f"DICOM pixel data unreadable ({detail})") from None
