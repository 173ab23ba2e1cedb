"""Nothing the data layer writes carries identifying tag values or absolute paths."""
from __future__ import annotations

import json

import numpy as np
import pydicom

from data_helpers import SECRET_TAGS, SECRET_UIDS, write_ct_study, write_multiframe_ct, write_nifti
from workbench.config import DataConfig
from workbench.data import load_dataset, scan_folder

IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName",
               "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def secrets_in(folder) -> set[str]:
    """Every identifying value written into the DICOM files under `folder`."""
    values = set()
    for path in folder.rglob("*.dcm"):
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        values.update(str(dataset.get(keyword)) for keyword in IDENTIFYING if dataset.get(keyword))
    return values


def test_cache_and_scan_report_hold_no_identifiers_or_paths(tmp_path):
    data = tmp_path / "study"
    write_ct_study(data / "ct")
    write_multiframe_ct(data / "mf.dcm", (0.0, 5.0, 10.0))
    write_nifti(data / "volume.nii.gz", np.random.default_rng(0).normal(size=(8, 8, 3)))
    secrets = secrets_in(data)
    assert set(SECRET_TAGS.values()) | set(SECRET_UIDS) <= secrets

    cfg = DataConfig(root=str(data), cache_dir=str(tmp_path / "cache"), image_size=16, cache_ram_mb=0,
                     context_slices=1)
    dataset = load_dataset(cfg)
    assert len(dataset) == 6 + 3 + 3 and dataset.memmap_path is not None
    (tmp_path / "cache" / "scan_report.json").write_text(json.dumps(dataset.report.to_json()))
    (tmp_path / "cache" / "gui_scan.json").write_text(json.dumps(scan_folder(data, cfg).report.to_json()))

    written = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    assert len(written) > 5
    for path in written:
        blob = path.read_bytes()
        for secret in secrets | {str(tmp_path)}:
            assert secret.encode() not in blob, (path.name, secret)
            assert secret not in str(path.relative_to(tmp_path))
    # In memory, the ids are pseudonyms too.
    in_memory = json.dumps([vars(record) for record in dataset.report.images]) + json.dumps(dataset.groups)
    assert not any(secret in in_memory for secret in secrets)
