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


# --- synthetic radiology data ------------------------------------------------------------------------

#: Identifying values written into the synthetic files; none may appear in anything the app writes.
SECRET_TAGS = {"PatientName": "Secretname^Alice", "PatientID": "PID-SECRET-0042", "PatientBirthDate": "19610203",
               "AccessionNumber": "ACC-SECRET-77", "InstitutionName": "Secret General Hospital"}
SECRET_UIDS = ("1.2.826.0.1.3680043.8.498.4242.1", "1.2.826.0.1.3680043.8.498.4242.2")  # study, series
CT_POSITIONS = (-40.0, -35.0, -30.0, -25.0, -20.0, -15.0)  # z of the axial slices, in mm
CT_SLOPE, CT_INTERCEPT = 2.0, -1024.0


def slice_hounsfield(z: float, size: int = 16) -> np.ndarray:
    """A slice whose every pixel says where it lies: HU = 10 * z (so order and rescale can be read back)."""
    return np.full((size, size), 10.0 * z)


def write_ct_study(folder: Path, identity: dict | None = None, uids: tuple[str, str] = SECRET_UIDS,
                   positions: tuple[float, ...] = CT_POSITIONS) -> list[Path]:
    """An axial CT series, files in shuffled order with InstanceNumbers that contradict the positions, plus a
    LOCALIZER scout and a coronal image (no LOCALIZER type) in the same series; returns the axial files."""
    from workbench.data.demo_ct import CORONAL, write_ct_slice

    identity = identity or SECRET_TAGS
    folder.mkdir(parents=True, exist_ok=True)
    shuffled = np.random.default_rng(5).permutation(len(positions))
    files = []
    for number, slice_number in enumerate(shuffled):
        z = positions[slice_number]
        path = folder / f"slice_{number:02d}.dcm"
        write_ct_slice(path, slice_hounsfield(z), identity, uids[0], uids[1], position=(-10.0, -10.0, z),
                       instance=len(positions) - slice_number, slope=CT_SLOPE, intercept=CT_INTERCEPT)
        files.append(path)
    scout = np.full((16, 16), 500.0)
    write_ct_slice(folder / "scout.dcm", scout, identity, uids[0], uids[1], position=(0.0, 0.0, 0.0), instance=99,
                   image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    write_ct_slice(folder / "reformat.dcm", scout, identity, uids[0], uids[1], position=(0.0, 0.0, 0.0),
                   instance=98, orientation=CORONAL)
    return files


def write_multiframe_ct(path: Path, positions: tuple[float, ...], identity: dict | None = None) -> None:
    """An enhanced-CT-style multi-frame file: per-frame positions (given order), a shared rescale (HU = 10 * z)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def item(**values) -> Dataset:
        element = Dataset()
        for keyword, value in values.items():
            setattr(element, keyword, value)
        return element

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    for keyword, value in (identity or SECRET_TAGS).items():
        setattr(dataset, keyword, value)
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = SECRET_UIDS[0], generate_uid()
    dataset.Modality, dataset.ImageType = "CT", ["ORIGINAL", "PRIMARY", "AXIAL"]
    dataset.NumberOfFrames, dataset.Rows, dataset.Columns = len(positions), 8, 8
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 1
    dataset.SharedFunctionalGroupsSequence = Sequence([item(
        PlaneOrientationSequence=Sequence([item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])]),
        PixelValueTransformationSequence=Sequence([item(RescaleSlope=1.0, RescaleIntercept=-1000.0,
                                                        RescaleType="HU")]))])
    dataset.PerFrameFunctionalGroupsSequence = Sequence([
        item(PlanePositionSequence=Sequence([item(ImagePositionPatient=[0.0, 0.0, z])])) for z in positions])
    stored = np.stack([slice_hounsfield(z, 8) + 1000.0 for z in positions]).astype(np.int16)
    dataset.PixelData = stored.tobytes()
    dataset.save_as(path, enforce_file_format=True)


def write_nifti(path: Path, volume: np.ndarray, flip_x: bool = True) -> None:
    """A NIfTI file of `volume` (x, y, z) with 2 mm voxels; `flip_x` stores it left-to-right (LAS)."""
    import nibabel

    affine = np.diag([-2.0 if flip_x else 2.0, 2.0, 2.0, 1.0])
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(volume.astype(np.float32), affine), str(path))
