"""Reading single files: Pillow formats, DICOM value math, and the reasons bad files give."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pydicom
import pytest
from PIL import Image

from data_helpers import (DICOM_FILES, MONOCHROME1_CR, copy_dicom, write_bare_dicom, write_gray_png, write_png_header_only, write_rgb,
                          write_tiff16, write_truncated_png)
from workbench.config import DataConfig
from workbench.data.readers import is_candidate, read_frames
from workbench.data.unreadable import UnreadableImage


def reason_of(path, cfg=None) -> str:
    with pytest.raises(UnreadableImage) as caught:
        read_frames(path, cfg or DataConfig())
    return caught.value.reason


def single(path, cfg=None):
    frames = read_frames(path, cfg or DataConfig())
    assert len(frames) == 1
    return frames[0]


def test_gray_png_keeps_one_channel_and_exact_values(tmp_path):
    pixels = write_gray_png(tmp_path / "a.png")
    frame = single(tmp_path / "a.png")
    assert frame.pixels.dtype == np.float32 and frame.pixels.shape == (24, 24, 1)
    assert frame.bit_depth == 8 and frame.source_channels == 1
    np.testing.assert_allclose(frame.pixels[..., 0], pixels / 255.0, atol=1e-6)


@pytest.mark.parametrize("name", ["a.png", "a.bmp", "a.tif"])
def test_lossless_rgb_formats(tmp_path, name):
    pixels = write_rgb(tmp_path / name)
    frame = single(tmp_path / name)
    assert frame.pixels.shape == (24, 24, 3)
    np.testing.assert_allclose(frame.pixels, pixels / 255.0, atol=1e-6)


def test_jpeg_reads_close_to_source(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))
    Image.fromarray(np.stack([smooth] * 3, axis=2)).save(tmp_path / "a.jpg", quality=95)
    frame = single(tmp_path / "a.jpg")
    assert frame.pixels.shape == (32, 32, 3)
    assert np.abs(frame.pixels[..., 0] - smooth / 255.0).mean() < 0.02


def test_tiff16_scaled_by_full_16_bit_range(tmp_path):
    pixels = write_tiff16(tmp_path / "a.tif")
    frame = single(tmp_path / "a.tif")
    assert frame.bit_depth == 16 and frame.pixels.shape == (24, 24, 1)
    np.testing.assert_allclose(frame.pixels[..., 0], pixels / 65535.0, atol=1e-6)


def test_float_tiff_scaled_by_its_own_range(tmp_path):
    Image.fromarray(np.array([[-5.0, 0.0, 5.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    np.testing.assert_allclose(single(tmp_path / "f.tif").pixels.ravel(), [0.0, 0.5, 1.0])


def test_alpha_dropped_palette_and_cmyk_converted(tmp_path):
    Image.new("RGBA", (8, 8), (10, 20, 30, 0)).save(tmp_path / "rgba.png")
    Image.new("RGB", (8, 8), (200, 0, 0)).convert("P").save(tmp_path / "palette.png")
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.tif")
    rgba, palette, cmyk = (single(tmp_path / name) for name in ("rgba.png", "palette.png", "cmyk.tif"))
    np.testing.assert_allclose(rgba.pixels[0, 0], np.array([10, 20, 30]) / 255.0, atol=1e-6)
    assert rgba.source_channels == 4
    assert palette.pixels.shape == (8, 8, 3) and palette.pixels[0, 0, 0] > 0.7
    np.testing.assert_allclose(cmyk.pixels[0, 0], [1.0, 0.0, 0.0], atol=1e-6)  # no cyan, full magenta+yellow: red
    assert cmyk.source_channels == 4


def test_exif_orientation_applied(tmp_path):
    image = Image.new("RGB", (16, 8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    image.save(tmp_path / "o.jpg", exif=exif)
    assert single(tmp_path / "o.jpg").pixels.shape == (16, 8, 3)


def test_bad_files_give_short_reasons(tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    write_truncated_png(tmp_path / "cut.png")
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(0).bytes(600))
    (tmp_path / "notes.png").write_text("these are my notes, not a picture\n")
    (tmp_path / "noise.dcm").write_bytes(np.random.default_rng(1).bytes(600))
    assert reason_of(tmp_path / "zero.png") == "zero-byte file"
    assert reason_of(tmp_path / "cut.png") == "truncated PNG"
    assert reason_of(tmp_path / "noise.png") == "not an image"
    assert reason_of(tmp_path / "notes.png") == "not an image"
    assert reason_of(tmp_path / "noise.dcm") == "not a DICOM file"


def test_decompression_bombs_refused_before_decoding(tmp_path):
    write_png_header_only(tmp_path / "big.png", 12000, 9000)  # above our 100 MP limit
    write_png_header_only(tmp_path / "huge.png", 30000, 30000)  # above Pillow's own hard limit too
    assert reason_of(tmp_path / "big.png") == "decompression bomb: 12000x9000 pixels exceeds the limit"
    assert reason_of(tmp_path / "huge.png").startswith("decompression bomb: 900000000 pixels")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_permission_denied(tmp_path):
    write_gray_png(tmp_path / "locked.png")
    os.chmod(tmp_path / "locked.png", 0)
    try:
        assert reason_of(tmp_path / "locked.png") == "permission denied"
    finally:
        os.chmod(tmp_path / "locked.png", 0o644)


def test_candidates_by_extension_or_dicom_preamble(tmp_path):
    copy_dicom("CT_small.dcm", tmp_path / "scan0001")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "table.csv").write_text("a,b\n")
    (tmp_path / "README").write_text("x" * 200)
    write_gray_png(tmp_path / "UPPER.PNG")
    assert is_candidate(tmp_path / "scan0001") and is_candidate(tmp_path / "UPPER.PNG")
    assert not any(is_candidate(tmp_path / name) for name in ("notes.txt", "table.csv", "README"))


# --- DICOM -----------------------------------------------------------------------------------------

def modality_values(name) -> np.ndarray:
    """Rescaled values computed by hand from pydicom's raw pixel_array."""
    dataset = pydicom.dcmread(name)
    slope, intercept = float(dataset.get("RescaleSlope", 1)), float(dataset.get("RescaleIntercept", 0))
    return dataset.pixel_array.astype(np.float64) * slope + intercept


def test_ct_rescale_and_manual_window_match_hand_computation():
    cfg = DataConfig(dicom_window="manual", window_center=40.0, window_width=400.0)
    frame = single(DICOM_FILES / "CT_small.dcm", cfg)
    hounsfield = modality_values(DICOM_FILES / "CT_small.dcm")
    assert pydicom.dcmread(DICOM_FILES / "CT_small.dcm").RescaleIntercept == -1024
    expected = np.clip((hounsfield - (40 - 0.5)) / (400 - 1) + 0.5, 0, 1)  # LINEAR, PS3.3 C.11.2.1.2.1
    assert frame.bit_depth == 16 and frame.pixels.shape == (128, 128, 1)
    np.testing.assert_allclose(frame.pixels[..., 0], expected, atol=1e-6)


def test_file_window_falls_back_to_percentiles_when_absent():
    frame = single(DICOM_FILES / "CT_small.dcm", DataConfig(dicom_window="file"))  # CT_small has no window
    hounsfield = modality_values(DICOM_FILES / "CT_small.dcm")
    low, high = np.percentile(hounsfield, [1, 99])
    np.testing.assert_allclose(frame.pixels[..., 0], np.clip((hounsfield - low) / (high - low), 0, 1), atol=1e-6)


def test_mr_uses_the_files_own_window():
    dataset = pydicom.dcmread(DICOM_FILES / "MR_small.dcm")
    center, width = float(dataset.WindowCenter), float(dataset.WindowWidth)
    expected = np.clip((modality_values(DICOM_FILES / "MR_small.dcm") - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    frame = single(DICOM_FILES / "MR_small.dcm")
    np.testing.assert_allclose(frame.pixels[..., 0], expected, atol=1e-6)


def test_monochrome1_without_extension_is_inverted(tmp_path):
    path = copy_dicom(MONOCHROME1_CR, tmp_path / "cr_image")
    dataset = pydicom.dcmread(path)
    assert dataset.PhotometricInterpretation == "MONOCHROME1"
    center, width = float(dataset.WindowCenter), float(dataset.WindowWidth)
    expected = 1 - np.clip((modality_values(path) - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    np.testing.assert_allclose(single(path).pixels[..., 0], expected, atol=1e-6)


def test_dcm_without_preamble_is_force_read(tmp_path):
    bare = write_bare_dicom("CT_small.dcm", tmp_path / "old_export.dcm")
    assert bare.read_bytes()[128:132] != b"DICM"
    np.testing.assert_allclose(single(bare).pixels, single(DICOM_FILES / "CT_small.dcm").pixels, atol=1e-6)


def test_multi_frame_files_give_one_frame_each():
    ultrasound = read_frames(DICOM_FILES / "examples_ybr_color.dcm", DataConfig())
    rgb = read_frames(DICOM_FILES / "SC_rgb_rle_2frame.dcm", DataConfig())
    assert len(ultrasound) == 30 and all(frame.pixels.shape == (240, 320, 3) for frame in ultrasound)
    assert len(rgb) == 2 and all(frame.pixels.shape == (100, 100, 3) for frame in rgb)
    raw = pydicom.dcmread(DICOM_FILES / "SC_rgb_rle_2frame.dcm").pixel_array
    np.testing.assert_allclose(rgb[1].pixels, raw[1] / 255.0, atol=1e-6)


def test_compressed_dicom_decoded_when_a_codec_is_there():
    plain = single(DICOM_FILES / "MR_small.dcm").pixels
    jpeg2000 = single(DICOM_FILES / "MR_small_jp2klossless.dcm").pixels  # Pillow's OpenJPEG decodes it
    np.testing.assert_allclose(jpeg2000, plain, atol=1e-6)


def test_compressed_dicom_without_codec_says_what_to_install():
    path = DICOM_FILES / "MR_small_jpeg_ls_lossless.dcm"
    if importlib.util.find_spec("pylibjpeg") is not None:
        assert single(path).pixels.shape == (64, 64, 1)
        return
    assert reason_of(path) == ("compressed DICOM (JPEG-LS Lossless Image Compression) and no decoder installed: "
                               "install pylibjpeg")


def test_dicom_without_pixels_or_with_broken_pixels():
    assert reason_of(DICOM_FILES / "rtplan.dcm") == "radiotherapy plan, not an image"
    assert reason_of(DICOM_FILES / "MR_truncated.dcm").startswith("DICOM pixel data unreadable")


def test_palette_and_ybr_dicom_become_rgb():
    palette = single(DICOM_FILES / "examples_palette.dcm")
    ybr = read_frames(DICOM_FILES / "examples_ybr_color.dcm", DataConfig())
    assert palette.pixels.shape == (350, 800, 3) and len(ybr) == 30 and ybr[0].pixels.shape[2] == 3
