"""Reading one image file into float frames in [0, 1]: Pillow formats, DICOM and NIfTI.

Pillow files give one frame (the first page of a multi-page TIFF); DICOM gives one per frame (per slice of
a Siemens MOSAIC), non-image objects are refused by SOP Class (`sop_classes`); a NIfTI volume gives one per
slice along its last axis. Frames of volumes carry `SliceFacts` (see `frame`: where
the slice lies, which series and patient it belongs to); those identifiers stay in memory and are hashed
before anything is written.

Every failure of a bad file becomes `UnreadableImage` (see `unreadable`) with a short human reason, so a
scan can list what it skipped and why without ever stopping on one file.
"""
from __future__ import annotations

import errno
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from workbench.config import DataConfig
from workbench.data.frame import Frame
from workbench.data.unreadable import MAX_PIXELS, UnreadableImage, bomb_reason, describe_error

PILLOW_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
NIFTI_SUFFIXES = (".nii", ".nii.gz")
IMAGE_EXTENSIONS = PILLOW_EXTENSIONS | DICOM_EXTENSIONS
_DICOM_MAGIC_OFFSET = 128
_BARE_DICOM_GROUPS = (0x0002, 0x0008)
_BARE_DICOM_MAX_FIRST_LENGTH = 1024
"""The first element of a bare data set (e.g. Specific Character Set, Image Type) is short."""
_PILLOW_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"),
                 (b"MM\x00*", "TIFF"), (b"BM", "BMP"))


def has_dicom_preamble(path: Path) -> bool:
    """True when the file carries the 'DICM' marker after the 128-byte preamble."""
    try:
        with open(path, "rb") as handle:
            handle.seek(_DICOM_MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def looks_like_dicom(path: Path) -> bool:
    """A DICOM file by its content: the 'DICM' marker after the preamble, or (older files, many of them named
    without an extension) a bare data set starting with a group 0002 or 0008 element in little-endian
    implicit or explicit VR, as pydicom reads them."""
    if has_dicom_preamble(path):
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    if len(head) < 8 or int.from_bytes(head[:2], "little") not in _BARE_DICOM_GROUPS:
        return False
    explicit_vr = head[4:6].isalpha() and head[4:6].isupper()
    return explicit_vr or int.from_bytes(head[4:8], "little") < _BARE_DICOM_MAX_FIRST_LENGTH


def is_nifti(path: Path) -> bool:
    """A NIfTI file by its name: `.nii` or `.nii.gz`."""
    return Path(path).name.lower().endswith(NIFTI_SUFFIXES)


def is_candidate(path: Path) -> bool:
    """Whether a scan should try to read this file: an image extension, NIfTI, or DICOM content."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS or is_nifti(path):
        return True
    return looks_like_dicom(path)


def read_frames(path: Path, data_cfg: DataConfig, auto_range: tuple[float, float] | None = None) -> list[Frame]:
    """Decode every frame of one file; raises only `UnreadableImage` for a bad file. `auto_range`: the
    automatic window's range decided for a DICOM slice's series (see `volume_windows`)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise UnreadableImage("zero-byte file")
        if path.suffix.lower() in DICOM_EXTENSIONS or looks_like_dicom(path):
            return _read_dicom_or_misnamed(path, data_cfg, auto_range)
        if is_nifti(path):
            from workbench.data.nifti import read_nifti_frames  # nibabel loads only when needed
            return read_nifti_frames(path, data_cfg)
        return [_read_pillow(path)]
    except UnreadableImage:
        raise
    except PermissionError:
        raise UnreadableImage("permission denied") from None
    except FileNotFoundError:
        raise UnreadableImage("broken symbolic link" if path.is_symlink() else
                              "file vanished during the scan") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnreadableImage("symbolic link loop") from None
        raise UnreadableImage(describe_error(error, path)) from None
    except MemoryError:
        raise UnreadableImage("not enough memory to decode") from None
    except Exception as error:  # any other failure of a bad file becomes a reason, never a crash
        raise UnreadableImage(describe_error(error, path)) from None


def _read_dicom_or_misnamed(path: Path, data_cfg: DataConfig, auto_range: tuple[float, float] | None) -> list[Frame]:
    """A DICOM file; a `.dcm` that is really a PNG/JPEG/TIFF/BMP (by its first bytes) is read as one."""
    from workbench.data.dicom import read_dicom_frames  # pydicom loads only when needed

    try:
        return read_dicom_frames(path, data_cfg, auto_range)
    except UnreadableImage as dicom_error:
        if has_dicom_preamble(path) or pillow_kind(path) is None:
            raise
        try:
            return [_read_pillow(path)]
        except UnreadableImage:
            raise dicom_error from None


def pillow_kind(path: Path) -> str | None:
    """The Pillow format a file's first bytes announce ('PNG', 'JPEG', 'TIFF', 'BMP'), whatever its name."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    return next((kind for magic, kind in _PILLOW_MAGIC if head.startswith(magic)), None)


def _read_pillow(path: Path) -> Frame:
    with warnings.catch_warnings():
        # Pillow warns about harmless oddities (corrupt EXIF...); our MAX_PIXELS check replaces its bomb warning.
        warnings.simplefilter("ignore")
        image = _open_pillow(path)
        with image:
            return _decode_pillow(image, path)


def _open_pillow(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        kind = pillow_kind(path)  # a file that starts like a PNG but does not open is a damaged PNG
        raise UnreadableImage(f"truncated or corrupt {kind}" if kind else "not an image") from None
    except Image.DecompressionBombError as error:
        count = re.search(r"\((\d+) pixels\)", str(error))
        raise UnreadableImage(f"decompression bomb: {count.group(1) if count else 'too many'} pixels "
                              "exceeds the limit") from None
    except ValueError as error:
        if "too large" in str(error).lower():  # e.g. a PNG text chunk that inflates without bound
            raise UnreadableImage("decompression bomb: a metadata chunk expands too far") from None
        raise
    except (OSError, SyntaxError, EOFError) as error:
        if "truncated" in str(error).lower():
            raise UnreadableImage(f"truncated {pillow_kind(path) or 'image'} (cut off in its header)") from None
        raise


def _decode_pillow(image: Image.Image, path: Path) -> Frame:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise UnreadableImage(bomb_reason(width, height))
    kind = image.format or path.suffix.lstrip(".").upper()
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        if "truncated" in str(error) or isinstance(error, (SyntaxError, EOFError)):
            raise UnreadableImage(f"truncated {kind}") from None
        raise UnreadableImage(f"corrupt {kind}: {describe_error(error, path)}") from None
    source_channels = len(image.getbands())
    image = ImageOps.exif_transpose(image)
    return _pillow_to_frame(image, source_channels)


def _pillow_to_frame(image: Image.Image, source_channels: int) -> Frame:
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        array = np.asarray(image).astype(np.float32)
        if mode == "I" and (array.min() < 0 or array.max() > 65535):
            array = _scale_min_max(array)
        else:
            array = array / 65535.0
        return Frame(array[..., None].astype(np.float32), 16, source_channels)
    if mode == "F":
        return Frame(_scale_min_max(np.asarray(image, dtype=np.float32))[..., None], 16, source_channels)
    if mode in ("P", "PA"):
        image = image.convert("RGBA").convert("RGB")
        rgb = np.asarray(image)
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
            return Frame(rgb[..., :1].astype(np.float32) / 255.0, 8, source_channels)  # a gray palette
        return Frame(rgb.astype(np.float32) / 255.0, 8, source_channels)
    if mode in ("1", "L", "LA", "La"):
        gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        return Frame(gray[..., None], 8, source_channels)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # RGB(A/X), CMYK, YCbCr, LAB, HSV
    return Frame(rgb, 8, source_channels)


def _scale_min_max(array: np.ndarray) -> np.ndarray:
    """Float data (e.g. a float TIFF) scaled by its own range; a constant image becomes zeros."""
    array = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(array.min()), float(array.max())
    if high <= low:
        return np.zeros_like(array, dtype=np.float32)
    return (array - low) / (high - low)
