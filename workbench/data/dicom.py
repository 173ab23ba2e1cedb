"""DICOM frames through pydicom: modality LUT (rescale), VOI window, MONOCHROME1 inversion, colour.

The window is linear: values from `center - width/2` to `center + width/2` map to 0..1, clipped.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from workbench.config import DataConfig
from workbench.data.readers import MAX_PIXELS, Frame, UnreadableImage, bomb_reason, describe_error

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def read_dicom_frames(path: Path, data_cfg: DataConfig) -> list[Frame]:
    """All frames of one DICOM file as `Frame`s (one per frame of a multi-frame file)."""
    dataset, forced = _open(path)
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise UnreadableImage("not a DICOM file" if forced and not _looks_like_dicom(dataset)
                               else "DICOM has no pixel data")
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
    if samples == 3:
        scale = float(np.iinfo(per_frame.dtype).max) if per_frame.dtype.kind in "ui" else 1.0
        scale = min(scale, float(2 ** bits_stored - 1))
        return [Frame(np.clip(frame.astype(np.float32) / scale, 0.0, 1.0), bit_depth, 3) for frame in per_frame]

    real = apply_modality_lut(per_frame, dataset).astype(np.float64)
    frames = []
    for values in real:
        scaled = window_frame(values, dataset, data_cfg)
        if photometric == "MONOCHROME1":
            scaled = 1.0 - scaled
        frames.append(Frame(scaled.astype(np.float32)[..., None], bit_depth, 1))
    return frames


def window_frame(values: np.ndarray, dataset: pydicom.Dataset, data_cfg: DataConfig) -> np.ndarray:
    """Apply the VOI window chosen by `data_cfg.dicom_window` to modality values; result in [0, 1]."""
    window = None
    if data_cfg.dicom_window == "manual":
        window = (data_cfg.window_center, data_cfg.window_width)
    elif data_cfg.dicom_window == "file":
        window = file_window(dataset)
    if window is None:
        return auto_window(values)
    center, width = window
    low = center - width / 2.0
    return np.clip((values - low) / width, 0.0, 1.0)


def file_window(dataset: pydicom.Dataset) -> tuple[float, float] | None:
    """The file's own WindowCenter/WindowWidth (first value when several), or None."""
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if center is None or width is None:
        return None
    try:
        center = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
        width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    except (TypeError, ValueError, IndexError):
        return None
    return (center, width) if width > 0 else None


def auto_window(values: np.ndarray) -> np.ndarray:
    """Map the 1st..99th percentile to 0..1 (full range when those coincide)."""
    low, high = np.percentile(values, [1.0, 99.0])
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float64)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _open(path: Path) -> tuple[pydicom.Dataset, bool]:
    """The dataset, and whether it had to be force-read (no preamble or meta header)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about many harmless oddities of real files
        try:
            return pydicom.dcmread(path), False
        except InvalidDicomError:
            try:
                return pydicom.dcmread(path, force=True), True  # a .dcm file without preamble/meta header
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
                if "missing dependencies" in str(error):
                    raise UnreadableImage(f"compressed DICOM ({syntax.name}) and no decoder installed: "
                                          "install pylibjpeg") from None
                raise UnreadableImage(f"compressed DICOM ({syntax.name}) could not be decoded by the installed "
                                      "decoders (installing pylibjpeg may help)") from None
            raise UnreadableImage(f"DICOM pixel data unreadable ({describe_error(error, path)})") from None
