"""The decoded cache: one decode per unchanged file, channel and dtype policy, memmap, privacy."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from data_helpers import copy_dicom, write_gray_png, write_rgb, write_tiff16
from workbench.config import DataConfig
from workbench.data import load_dataset
from workbench.data.cache import needs_memmap


def config(root, tmp_path, **changes) -> DataConfig:
    return DataConfig(root=str(root), cache_dir=str(tmp_path / "cache"), image_size=16, **changes)


def test_unchanged_files_are_not_decoded_again(tmp_path):
    root = tmp_path / "images"
    for number in range(4):
        write_gray_png(root / f"{number}.png", seed=number)
    first = load_dataset(config(root, tmp_path))
    # Same size and mtime, garbage content: only a cache hit can still give the old pixels.
    victim = root / "2.png"
    stat = victim.stat()
    victim.write_bytes(b"\0" * stat.st_size)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = load_dataset(config(root, tmp_path))
    assert torch.equal(first.images, second.images) and not second.report.skipped
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # now it looks changed
    third = load_dataset(config(root, tmp_path))
    assert [(item.path, item.reason) for item in third.report.skipped] == [("2.png", "not an image")]
    assert len(third) == 3


def test_cache_is_keyed_by_image_size(tmp_path):
    write_gray_png(tmp_path / "images" / "a.png")
    small = load_dataset(config(tmp_path / "images", tmp_path))
    large = load_dataset(DataConfig(root=str(tmp_path / "images"), cache_dir=str(tmp_path / "cache"), image_size=20))
    assert small.images.shape == (1, 1, 16, 16) and large.images.shape == (1, 1, 20, 20)


def test_channel_policy_and_labels(tmp_path):
    root = tmp_path / "images"
    gray = write_gray_png(root / "a" / "gray.png", size=16)
    write_rgb(root / "b" / "colour.png", size=16)
    write_gray_png(root / "loose.png", size=16)
    auto = load_dataset(config(root, tmp_path))
    assert auto.channels == 3 and auto.images.shape == (3, 3, 16, 16) and auto.images.dtype == torch.uint8
    assert torch.equal(auto.images[0, 0], auto.images[0, 2])  # gray replicated
    assert torch.equal(auto.images[0, 0], torch.from_numpy(gray))  # 16 px source: no resampling
    assert auto.class_names == ["a", "b"] and auto.labels.tolist() == [0, 1, -1] and auto.num_labelled == 2
    assert load_dataset(config(root, tmp_path, channels=1)).images.shape == (3, 1, 16, 16)


def test_sixteen_bit_source_makes_a_uint16_tensor(tmp_path):
    root = tmp_path / "images"
    eight = write_gray_png(root / "a.png", size=16)
    write_tiff16(root / "b.tif", size=16)
    dataset = load_dataset(config(root, tmp_path))
    assert dataset.images.dtype == torch.uint16
    assert torch.equal(dataset.images[0, 0].to(torch.int64), torch.from_numpy(eight.astype(np.int64) * 257))


def test_mean_and_std_describe_the_cached_images(tmp_path):
    for number in range(3):
        write_rgb(tmp_path / "images" / f"{number}.png", size=16, seed=number)
    dataset = load_dataset(config(tmp_path / "images", tmp_path))
    scaled = dataset.images.double() / 255
    assert dataset.mean == pytest.approx(scaled.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)
    assert dataset.std == pytest.approx(scaled.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-9)


def test_large_dataset_is_memory_mapped(tmp_path):
    assert needs_memmap(16 * 1024 * 1024 + 1, 16) and not needs_memmap(16 * 1024 * 1024, 16)
    for number in range(3):
        write_gray_png(tmp_path / "images" / f"{number}.png", seed=number)
    in_ram = load_dataset(config(tmp_path / "images", tmp_path))
    mapped = load_dataset(config(tmp_path / "images", tmp_path, cache_ram_mb=0))  # any size exceeds 0 MB
    assert in_ram.memmap_path is None and mapped.memmap_path.is_file()
    assert torch.equal(in_ram.images, mapped.images)
    on_disk = np.load(mapped.memmap_path, mmap_mode="r")
    assert np.array_equal(on_disk, mapped.images.numpy())


def test_cache_holds_no_patient_data_or_paths(tmp_path):
    copy_dicom("CT_small.dcm", tmp_path / "patients" / "ct.dcm")
    load_dataset(config(tmp_path / "patients", tmp_path, cache_ram_mb=0))
    written = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    assert written
    for path in written:
        data = path.read_bytes()
        assert b"CompressedSamples" not in data and str(tmp_path).encode() not in data
        assert b"ct.dcm" not in data and "patients" not in str(path)


def test_no_readable_images_is_a_clear_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "bad.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"no readable images in .*: 1 file skipped \(bad.png: zero-byte file\)"):
        load_dataset(config(tmp_path / "images", tmp_path))
