"""Radiology DICOM reading: compressed syntaxes, the pixel pipeline's order and window presets."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from data_helpers import DICOM_FILES, copy_dicom
from workbench.config import DataConfig
from workbench.data import WINDOW_PRESETS, read_frames, scan_folder
from workbench.data.demo_ct import write_ct_slice
from workbench.data.unreadable import UnreadableImage


def pixels(name, cfg=None) -> np.ndarray:
    frames = read_frames(DICOM_FILES / name, cfg or DataConfig())
    assert len(frames) == 1 and frames[0].pixels.dtype == np.float32
    return frames[0].pixels


@pytest.mark.parametrize("compressed, reference, tolerance", [
    ("SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm", 0.0),              # JPEG lossless, process 14 SV1
    ("SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm", 6 / 255 + 1e-6),  # JPEG baseline (lossy)
    ("SC_rgb_jls_lossy_line.dcm", "SC_rgb_rle.dcm", 2 / 255 + 1e-6),  # JPEG-LS near-lossless
    ("SC_rgb_gdcm_KY.dcm", "SC_rgb_rle.dcm", 0.0),                # JPEG 2000
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", 1e-6),      # JPEG-LS lossless, signed 16-bit
    ("MR_small_jp2klossless.dcm", "MR_small.dcm", 1e-6),          # JPEG 2000 lossless
])
def test_compressed_syntaxes_decode_like_their_uncompressed_twin(compressed, reference, tolerance):
    assert pydicom.dcmread(DICOM_FILES / compressed).file_meta.TransferSyntaxUID.is_compressed
    np.testing.assert_allclose(pixels(compressed), pixels(reference), atol=tolerance)


def test_jpeg_extended_12_bit_decodes_as_16_bit_depth():
    frame = read_frames(DICOM_FILES / "JPGExtended.dcm", DataConfig())[0]
    assert frame.pixels.shape == (1024, 256, 1) and frame.bit_depth == 16 and frame.pixels.std() > 0.05


def test_undecodable_syntax_is_a_skipped_file_with_the_reason(tmp_path):
    copy_dicom("JPEG-lossy.dcm", tmp_path / "broken_jpeg.dcm")  # a 12-bit stream no installed decoder accepts
    copy_dicom("MR_small_jp2klossless.dcm", tmp_path / "fine.dcm")
    report = scan_folder(tmp_path, DataConfig()).report
    assert [record.path for record in report.images] == ["fine.dcm"]
    assert [(item.path, item.reason) for item in report.skipped] == [
        ("broken_jpeg.dcm", "compressed DICOM (JPEG Extended (Process 2 and 4)) that the installed decoders "
                            "(pylibjpeg, Pillow) cannot decode")]


def signed_12_bit_file(path, photometric="MONOCHROME2") -> np.ndarray:
    """Signed 12-bit values in 16-bit words whose unused high bits hold garbage; returns the true values."""
    values = np.array([[-2048, -1000, 0], [1, 1000, 2047]], dtype=np.int16)
    words = (values.astype(np.uint16) & 0x0FFF) | 0xA000  # garbage above bit 11
    write_ct_slice(path, np.zeros((2, 3)), {}, "1.2.3", "1.2.3.4", position=(0, 0, 0), instance=1)
    dataset = pydicom.dcmread(path)
    dataset.PixelRepresentation, dataset.BitsStored, dataset.HighBit = 1, 12, 11
    dataset.RescaleSlope, dataset.RescaleIntercept = 0.5, 10.0
    dataset.PhotometricInterpretation = photometric
    dataset.PixelData = words.tobytes()
    dataset.save_as(path)
    return values


def test_bits_stored_and_sign_then_rescale_then_window(tmp_path):
    values = signed_12_bit_file(tmp_path / "signed.dcm")
    hounsfield = values * 0.5 + 10.0
    cfg = DataConfig(dicom_window="manual", window_center=0.0, window_width=2000.0)
    frame = read_frames(tmp_path / "signed.dcm", cfg)[0]
    np.testing.assert_allclose(frame.pixels[..., 0], np.clip((hounsfield + 0.5) / 1999 + 0.5, 0, 1), atol=1e-6)
    signed_12_bit_file(tmp_path / "mono1.dcm", "MONOCHROME1")
    inverted = read_frames(tmp_path / "mono1.dcm", cfg)[0]
    np.testing.assert_allclose(inverted.pixels, 1.0 - frame.pixels, atol=1e-6)


def test_window_keeps_sixteen_bit_precision(tmp_path):
    """A 1 HU step in a narrow window survives: nothing was flattened to 8 bits before the window."""
    write_ct_slice(tmp_path / "fine.dcm", np.array([[40.0, 41.0]]), {}, "1.2.3", "1.2.3.4", position=(0, 0, 0),
                   instance=1)
    cfg = DataConfig(dicom_window="manual", window_center=40.5, window_width=4.0)
    linear = (np.array([40.0, 41.0]) - (40.5 - 0.5)) / (4.0 - 1) + 0.5  # LINEAR, PS3.3 C.11.2.1.2.1
    np.testing.assert_allclose(read_frames(tmp_path / "fine.dcm", cfg)[0].pixels.ravel(), linear, atol=1e-6)


@pytest.mark.parametrize("preset", sorted(WINDOW_PRESETS))
def test_presets_are_windows_in_hounsfield_units(tmp_path, preset):
    level, width = WINDOW_PRESETS[preset]
    tissue = np.array([[-1000.0, -600.0, -100.0, 40.0, 90.0, 700.0]])
    write_ct_slice(tmp_path / "ct.dcm", tissue, {}, "1.2.3", "1.2.3.4", position=(0, 0, 0), instance=1)
    frame = read_frames(tmp_path / "ct.dcm", DataConfig(dicom_window=preset))[0]
    linear = np.clip((tissue.ravel() - (level - 0.5)) / (width - 1) + 0.5, 0, 1)  # LINEAR, PS3.3 C.11.2.1.2.1
    np.testing.assert_allclose(frame.pixels.ravel(), linear, atol=1e-6)


def test_preset_values_and_config_choices():
    assert WINDOW_PRESETS == {"soft_tissue": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (480.0, 2500.0),
                              "brain": (40.0, 80.0), "liver": (90.0, 150.0)}
    from dataclasses import fields
    choices = next(item for item in fields(DataConfig) if item.name == "dicom_window").metadata["choices"]
    assert set(choices) == {"file", "manual", "auto"} | set(WINDOW_PRESETS)


def test_files_voi_lut_is_used_for_the_file_window(tmp_path):
    write_ct_slice(tmp_path / "lut.dcm", np.array([[-1024.0, -1014.0, 0.0, 3000.0]]), {}, "1.2.3", "1.2.3.4",
                   position=(0, 0, 0), instance=1)
    dataset = pydicom.dcmread(tmp_path / "lut.dcm")
    lut = Dataset()
    lut.LUTDescriptor = [16, 65536 - 1024, 8]  # 16 entries from -1024 HU (stored as US), 8-bit output
    lut.add_new("LUTData", "US", [16 * index for index in range(16)])
    dataset.VOILUTSequence = Sequence([lut])
    dataset.save_as(tmp_path / "lut.dcm")
    frame = read_frames(tmp_path / "lut.dcm", DataConfig(dicom_window="file"))[0]
    np.testing.assert_allclose(frame.pixels.ravel(), np.array([0, 160, 240, 240]) / 255, atol=1e-6)
    manual = read_frames(tmp_path / "lut.dcm", DataConfig(dicom_window="manual", window_center=0,
                                                           window_width=2048))[0]
    assert manual.pixels.ravel()[0] == 0.0 and manual.pixels.ravel()[2] == pytest.approx(0.5 + 0.5 / 2047)


def test_a_bad_file_still_raises_only_unreadable(tmp_path):
    (tmp_path / "x.nii").write_bytes(b"not a nifti at all" * 30)
    with pytest.raises(UnreadableImage):
        read_frames(tmp_path / "x.nii", DataConfig())


def test_a_bare_dicom_data_set_without_preamble_meta_or_extension_is_read_and_not_ignored(tmp_path):
    """Older scanners and PACS exports write `IM0001`-style files: no 128-byte preamble, no file meta, no
    extension. They used to be neither read nor listed; a text file with no extension still is no image."""
    original = copy_dicom("CT_small.dcm", tmp_path / "with_meta" / "CT_small.dcm")
    dataset = pydicom.dcmread(original)
    dataset.preamble = None
    del dataset.file_meta
    bare = tmp_path / "scans" / "IM0001"
    bare.parent.mkdir()
    dataset.save_as(bare, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    (tmp_path / "scans" / "README").write_text("scanned on the old PACS\n")
    config = DataConfig(root=str(tmp_path / "scans"))
    report = scan_folder(tmp_path / "scans", config).report
    assert [record.path for record in report.images] == ["IM0001"] and report.skipped == []
    np.testing.assert_array_equal(read_frames(bare, config)[0].pixels, read_frames(original, config)[0].pixels)
