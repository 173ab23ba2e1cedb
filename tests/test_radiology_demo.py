"""The CT demo dataset: deterministic DICOM series in HU, with fake identities that never leak."""
from __future__ import annotations

import json

import numpy as np
import pydicom

from workbench.config import DataConfig
from workbench.data import demo_ct_dataset_dir, load_dataset
from workbench.data.demo_ct import CT_CLASSES, CT_PATIENTS_PER_CLASS, CT_SLICES, FAKE_NAMES, HU, write_demo_ct_dataset


def pixel_bytes(folder) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): pydicom.dcmread(path).PixelData for path in sorted(folder.rglob("*.dcm"))}


def test_demo_ct_is_deterministic_and_in_hounsfield_units(tmp_path):
    write_demo_ct_dataset(tmp_path / "one", 1, 4, 32, seed=3)
    write_demo_ct_dataset(tmp_path / "two", 1, 4, 32, seed=3)
    assert pixel_bytes(tmp_path / "one") == pixel_bytes(tmp_path / "two")
    dataset = pydicom.dcmread(next((tmp_path / "one" / "normal").rglob("IM0001.dcm")))
    hounsfield = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    for tissue in ("air", "fat", "soft_tissue", "bone"):
        assert np.isclose(hounsfield, HU[tissue], atol=30).any(), tissue
    assert str(dataset.PatientName) in FAKE_NAMES


def test_demo_ct_loads_as_labelled_volumes_with_patient_groups(tmp_path):
    folder = demo_ct_dataset_dir(tmp_path)
    assert demo_ct_dataset_dir(tmp_path) == folder
    cfg = DataConfig(root=str(folder), cache_dir=str(tmp_path / "cache"), image_size=32, dicom_window="lung")
    dataset = load_dataset(cfg)
    patients = len(CT_CLASSES) * CT_PATIENTS_PER_CLASS
    assert len(dataset) == patients * CT_SLICES and len(set(dataset.groups)) == patients
    assert dataset.class_names == sorted(CT_CLASSES)
    assert len(dataset.report.skipped) == patients  # one scout per series, left out
    cached = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    assert cached
    written = json.dumps(dataset.report.to_json()) + "".join(
        path.read_bytes().decode("latin-1") for path in cached)
    assert not any(name in written for name in FAKE_NAMES)
