"""Small real files for the data-layer tests: images written with Pillow, pydicom's shipped DICOMs."""
from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

DICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
MONOCHROME1_CR = DICOM_FILES / "dicomdirtests" / "77654033" / "CR1" / "6154"  # no extension, MONOCHROME1


def write_gray_png(path: Path, size: int = 24, seed: int = 0) -> np.ndarray:
    """A random 8-bit grayscale PNG; returns its pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def write_rgb(path: Path, size: int = 24, seed: int = 0) -> np.ndarray:
    """A random RGB image in the format given by the extension; returns its pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def write_tiff16(path: Path, size: int = 24, seed: int = 0) -> np.ndarray:
    """A random 16-bit grayscale TIFF; returns its pixels."""
    pixels = np.random.default_rng(seed).integers(0, 65536, (size, size), dtype=np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def write_png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels (the data is tiny): a decompression-bomb stand-in."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0"))
                     + chunk(b"IEND", b""))


def write_truncated_png(path: Path) -> None:
    """A real PNG cut in half."""
    write_rgb(path, size=64)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def copy_dicom(name: str | Path, target: Path) -> Path:
    """Copy one of pydicom's shipped test files to `target`."""
    source = name if isinstance(name, Path) else DICOM_FILES / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def write_bare_dicom(name: str, target: Path) -> Path:
    """Re-write a shipped DICOM with no preamble and no meta header (as some old exports are)."""
    dataset = pydicom.dcmread(DICOM_FILES / name)
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.preamble = None
    pydicom.dcmwrite(target, dataset, enforce_file_format=False, implicit_vr=True, little_endian=True)
    return target
