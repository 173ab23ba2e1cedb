"""A CT-like demo dataset: a few synthetic chest volumes as DICOM series, in Hounsfield units.

Each volume is a phantom of air (-1000 HU) around a body of soft tissue (40 HU) under a layer of fat
(-100 HU), two lungs (-850 HU) in the upper slices and a spine (700 HU). `nodule` patients have a round
soft-tissue nodule in one lung. Files are written as real scanners do: one slice per file, stored values
with a RescaleIntercept, file names in an order other than the slice order, one coronal scout image per
series, and fake patient names and IDs in the tags (so the privacy of reports and caches can be shown).
Generation is deterministic: patient p of class k depends only on (seed, k, p).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from workbench.data.locations import cache_root, generated_folder

CT_CLASSES = ("normal", "nodule")
CT_PATIENTS_PER_CLASS = 3
CT_SLICES = 12
CT_SIZE = 64
CT_SEED = 4321
CT_FOLDER = "demo-ct-v1"
FAKE_NAMES = ("Doe^Jane", "Roe^Richard", "Public^John", "Smith^Anna", "Moreau^Claire", "Tanaka^Ken")
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
HU = {"air": -1000.0, "lung": -850.0, "fat": -100.0, "soft_tissue": 40.0, "bone": 700.0}
_INTERCEPT = -1024.0
_SPACING_MM = 5.0
_PIXEL_MM = 6.0
_GENERATOR_VERSION = 1


def demo_ct_dataset_dir(cache_dir: Path | None = None) -> Path:
    """The CT demo folder (`<class>/<case>/*.dcm`), generated on first use (atomically) under the cache."""
    base = Path(cache_dir) if cache_dir is not None else cache_root()
    target = base / CT_FOLDER
    expected = f"{len(CT_CLASSES) * CT_PATIENTS_PER_CLASS} volumes, generator {_GENERATOR_VERSION}"
    return generated_folder(target, expected, lambda folder: write_demo_ct_dataset(
        folder, CT_PATIENTS_PER_CLASS, CT_SLICES, CT_SIZE, CT_SEED))


def write_demo_ct_dataset(folder: Path, patients_per_class: int, slices: int, size: int, seed: int) -> None:
    """Write one series per patient, one folder per class and case."""
    for class_index, finding in enumerate(CT_CLASSES):
        for number in range(patients_per_class):
            patient = class_index * patients_per_class + number
            rng = np.random.default_rng([seed, class_index, number])
            volume = phantom_volume(rng, finding, slices, size)
            identity = {"PatientName": FAKE_NAMES[patient % len(FAKE_NAMES)],
                        "PatientID": f"DEMO{seed}{patient:04d}", "PatientBirthDate": f"19{50 + patient:02d}0101"}
            write_ct_series(Path(folder) / finding / f"case{number + 1:02d}", volume, identity, rng,
                            uid_seed=f"{seed}-{patient}")


def write_ct_series(folder: Path, hounsfield: np.ndarray, identity: dict[str, str], rng: np.random.Generator,
                    uid_seed: str, scout: bool = True) -> None:
    """An axial series of `hounsfield` (slices, H, W), files named in shuffled order, plus a coronal scout."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = (generate_uid(entropy_srcs=[uid_seed, kind]) for kind in ("study", "series"))
    order = rng.permutation(len(hounsfield))
    for instance, slice_number in enumerate(order, start=1):
        write_ct_slice(folder / f"IM{instance:04d}.dcm", hounsfield[slice_number], identity, study, series,
                       position=(0.0, 0.0, slice_number * _SPACING_MM), instance=instance)
    if scout:
        coronal = hounsfield[:, hounsfield.shape[1] // 2, :][::-1]
        write_ct_slice(folder / f"IM{len(order) + 1:04d}.dcm", coronal, identity, study, series,
                       position=(0.0, 0.0, 0.0), instance=len(order) + 1, orientation=CORONAL,
                       image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))


def write_ct_slice(path: Path, hounsfield: np.ndarray, identity: dict[str, str], study_uid: str, series_uid: str,
                   position: tuple[float, float, float], instance: int, orientation: tuple[float, ...] = AXIAL,
                   image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"), slope: float = 1.0,
                   intercept: float = _INTERCEPT) -> None:
    """One CT slice file: stored values = (HU - intercept) / slope as unsigned 16-bit, 12 bits stored."""
    stored = np.clip(np.rint((np.asarray(hounsfield, dtype=np.float64) - intercept) / slope), 0, 4095)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[series_uid, str(instance)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    for keyword, value in identity.items():
        setattr(dataset, keyword, value)
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
    dataset.Modality, dataset.ImageType, dataset.InstanceNumber = "CT", list(image_type), instance
    dataset.ImagePositionPatient = [float(value) for value in position]
    dataset.ImageOrientationPatient = [float(value) for value in orientation]
    dataset.PixelSpacing, dataset.SliceThickness = [_PIXEL_MM, _PIXEL_MM], _SPACING_MM
    dataset.RescaleSlope, dataset.RescaleIntercept, dataset.RescaleType = slope, intercept, "HU"
    dataset.Rows, dataset.Columns = stored.shape
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 12, 11, 0
    dataset.PixelData = stored.astype(np.uint16).tobytes()
    dataset.save_as(path, enforce_file_format=True)


def phantom_volume(rng: np.random.Generator, finding: str, slices: int, size: int) -> np.ndarray:
    """A float (slices, size, size) chest phantom in HU, slice 0 at the feet."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    nodule_slice = int(rng.integers(slices // 2, slices))
    nodule = (0.5 + rng.choice([-1, 1]) * 0.17, 0.47, rng.uniform(0.05, 0.08))
    volume = np.empty((slices, size, size))
    for index in range(slices):
        z = index / max(slices - 1, 1)
        width, depth = 0.40 - 0.05 * z, 0.30 - 0.03 * z
        image = np.full((size, size), HU["air"])
        image[_ellipse(x, y, 0.5, 0.5, width, depth)] = HU["fat"]
        image[_ellipse(x, y, 0.5, 0.5, width - 0.04, depth - 0.04)] = HU["soft_tissue"]
        if z > 0.3:
            lung = 0.13 * min(1.0, (z - 0.3) / 0.3)
            for side in (-1, 1):
                image[_ellipse(x, y, 0.5 + side * 0.17, 0.47, lung, lung * 1.5)] = HU["lung"]
        image[_ellipse(x, y, 0.5, 0.5 + depth - 0.1, 0.05, 0.05)] = HU["bone"]
        if finding == "nodule" and abs(index - nodule_slice) <= 1:
            image[_ellipse(x, y, nodule[0], nodule[1], nodule[2], nodule[2])] = HU["soft_tissue"]
        volume[index] = image + rng.normal(0.0, 8.0, image.shape)
    return volume


def _ellipse(x, y, cx, cy, a, b):
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0
