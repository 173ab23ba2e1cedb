"""Patient data never reach what the workbench writes: run folders, exports, model cards, caches."""
import shutil
from pathlib import Path

import pydicom
import pytest

from engine_helpers import tiny_config, tiny_dataset
from workbench.cli.progress import ConsoleReporter
from workbench.engine.trainer import Trainer
from workbench.export import FORMATS, export_run

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
IDENTIFYING_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber",
                    "ReferringPhysicianName", "StudyInstanceUID", "SeriesInstanceUID")


def identifying_values(path: Path) -> set[str]:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    values = {str(dataset.get(tag, "")) for tag in IDENTIFYING_TAGS}
    return {value for value in values if len(value) >= 4}


def written_files(*folders: Path):
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                yield path


def test_no_identifier_or_absolute_path_in_run_folder_exports_or_cache(tmp_path, private_cache, capsys):
    data = tiny_dataset(tmp_path / "patients", per_class=3)
    secrets = set()
    for name, label in (("CT_small.dcm", "normal"), ("MR_small.dcm", "nodule")):
        target = data / label / f"scan_{name}"
        shutil.copy(TEST_FILES / name, target)
        secrets |= identifying_values(target)
    assert "CompressedSamples^CT1" in secrets
    config = tiny_config(data, tmp_path / "runs", train={"steps": 2, "checkpoint_every": 2},
                         data={"dicom_window": "auto"})
    trainer = Trainer(config)
    final = trainer.run(ConsoleReporter())
    assert final.step == 2, getattr(final, "message", "")
    assert trainer.dataset.report.readable == 14  # the two DICOM files were used
    for fmt in FORMATS:
        export_run(trainer.run_dir, fmt)
    printed = capsys.readouterr()
    checked = 0
    # no absolute path at all: config.yaml and metrics.jsonl name paths relative to the run folder
    for path in written_files(trainer.run_dir, private_cache):
        content = path.read_bytes()
        for secret in secrets | {str(data), str(tmp_path)}:
            assert secret.encode() not in content, f"{secret!r} found in {path}"
        checked += 1
    assert checked > 10
    assert "root: ../../patients" in (trainer.run_dir / "config.yaml").read_text()
    for secret in secrets:
        assert secret not in printed.out + printed.err


@pytest.mark.parametrize("name", ["CT_small.dcm"])
def test_scan_report_of_dicom_names_no_patient(tmp_path, name):
    from workbench.config import DataConfig
    from workbench.data import scan_folder

    shutil.copy(TEST_FILES / name, tmp_path / "a.dcm")
    report = scan_folder(tmp_path, DataConfig(root=str(tmp_path))).report
    text = str(report.to_json())
    assert report.readable == 1
    for secret in identifying_values(tmp_path / "a.dcm"):
        assert secret not in text
