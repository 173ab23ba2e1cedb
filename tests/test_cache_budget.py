"""Building the cache within its RAM budget: frames spooled to disk, rows written straight to the memory-mapped
file, the same pixels and statistics as the in-memory build, and nothing left behind when cancelled."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data_helpers import write_ct_study, write_gray_png, write_rgb, write_tiff16
from workbench.config import DataConfig
from workbench.control import CancelledError, CancelToken
from workbench.data import load_dataset
from workbench.data.frame_spool import FrameSpool

def config(root, cache, **changes) -> DataConfig:
    return DataConfig(root=str(root), cache_dir=str(cache), image_size=32, **changes)


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """200 images at 16 to 40 px, gray and RGB, in two class folders (RGB makes the tensor 3-channel)."""
    root = tmp_path_factory.mktemp("mixed")
    for number in range(200):
        folder = root / ("a" if number % 2 else "b")
        size = 16 + number % 25
        if number % 7 == 0:
            write_rgb(folder / f"{number:03}.png", size=size, seed=number)
        else:
            write_gray_png(folder / f"{number:03}.png", size=size, seed=number)
    return root


def assert_same_dataset(in_ram, mapped):
    assert in_ram.memmap_path is None and mapped.memmap_path.is_file()
    assert torch.equal(in_ram.images, mapped.images) and torch.equal(in_ram.labels, mapped.labels)
    assert mapped.mean == pytest.approx(in_ram.mean, abs=1e-6) and mapped.std == pytest.approx(in_ram.std, abs=1e-6)
    assert np.array_equal(np.load(mapped.memmap_path, mmap_mode="r"), in_ram.images.numpy())


def test_over_budget_build_matches_the_in_memory_build(mixed_folder, tmp_path):
    # 200 x 3 x 32 x 32 bytes = 600 KB: over 0 MB, within 64 MB; frames spooled to disk only at 0 MB
    in_ram = load_dataset(config(mixed_folder, tmp_path / "ram", cache_ram_mb=64))
    mapped = load_dataset(config(mixed_folder, tmp_path / "mapped", cache_ram_mb=0))
    assert in_ram.images.shape == (200, 3, 32, 32)
    assert_same_dataset(in_ram, mapped)
    scaled = in_ram.images.double() / 255
    assert in_ram.mean == pytest.approx(scaled.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)
    assert in_ram.std == pytest.approx(scaled.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-9)
    again = load_dataset(config(mixed_folder, tmp_path / "mapped", cache_ram_mb=0))  # from the decoded cache
    assert torch.equal(again.images, in_ram.images) and again.mean == mapped.mean
    assert [path.name for path in (tmp_path / "mapped" / "arrays").iterdir()] == [mapped.memmap_path.name]


def test_tensor_over_budget_from_frames_within_it(tmp_path):
    # 201 frames of 1-2 KB stay in memory (1 MB budget); as 16-bit 3-channel rows the tensor takes 1.2 MB
    root = tmp_path / "images"
    for number in range(200):
        write_gray_png(root / f"{number:03}.png", size=16, seed=number)
    write_tiff16(root / "deep.tif", size=32)
    in_ram = load_dataset(config(root, tmp_path / "ram", channels=3))
    mapped = load_dataset(config(root, tmp_path / "mapped", channels=3, cache_ram_mb=1))
    assert mapped.images.shape == (201, 3, 32, 32) and mapped.images.dtype == torch.uint16
    assert_same_dataset(in_ram, mapped)


def test_volume_slices_and_stacks_over_budget(tmp_path):
    write_ct_study(tmp_path / "ct")  # files shuffled: decode order is not slice order
    built = {}
    window = {"dicom_window": "manual", "window_center": 0.0, "window_width": 1000.0}  # slices at -400..-150 HU
    for name, changes in {"plain": {}, "stacked": {"context_slices": 1}, "two": {"slices_per_volume": 2}}.items():
        changes.update(window)
        in_ram = load_dataset(config(tmp_path / "ct", tmp_path / "ram", **changes))
        built[name] = mapped = load_dataset(config(tmp_path / "ct", tmp_path / "mapped", cache_ram_mb=0, **changes))
        assert in_ram.images.dtype == torch.uint16
        assert_same_dataset(in_ram, mapped)
        assert in_ram.volume_index.tolist() == mapped.volume_index.tolist()
    plain = built["plain"].images.double().mean(dim=(1, 2, 3))
    assert len(plain) == 6 and bool((plain.diff() > 0).all())  # each slice's pixels say where it lies
    stacked = built["stacked"].images
    assert torch.equal(stacked[:, 1], built["plain"].images[:, 0])  # the slice itself in the middle
    assert torch.equal(stacked[1:, 0], built["plain"].images[:-1, 0])  # its neighbour below first
    assert torch.equal(built["two"].images, built["plain"].images[[0, 5]])


@pytest.mark.parametrize("cancel_at", ["mid-scan", "after-scan"])
def test_cancelled_build_leaves_no_array_or_spool_file(mixed_folder, tmp_path, cancel_at):
    token = CancelToken()

    def progress(done, total):  # the scan's last call comes after its last check: cancelled at the build
        if done == (total // 2 if cancel_at == "mid-scan" else total):
            token.cancel()

    with pytest.raises(CancelledError):
        load_dataset(config(mixed_folder, tmp_path / "cache", cache_ram_mb=0), cancel=token, progress=progress)
    arrays = tmp_path / "cache" / "arrays"
    assert not arrays.exists() or not list(arrays.iterdir())
    finished = load_dataset(config(mixed_folder, tmp_path / "cache", cache_ram_mb=0))
    assert len(finished) == 200 and finished.memmap_path.is_file()


def test_frame_spool_gives_back_what_it_took(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (8, 8, 1), dtype=np.uint8), rng.integers(0, 65535, (8, 8, 3), dtype=np.uint16),
              np.arange(192, dtype=np.uint8).reshape(8, 8, 3)[:, ::-1]]  # a non-contiguous view
    with FrameSpool(budget_bytes=400, folder=tmp_path) as spool:
        spool.append(frames[0])
        assert not spool.spilled  # 64 bytes
        for pixels in frames[1:] * 3:
            spool.append(pixels)
        assert spool.spilled and len(spool) == 7
        expected = [frames[0]] + frames[1:] * 3
        for index in (6, 0, 3, 1):  # any order
            assert spool[index].dtype == expected[index].dtype and np.array_equal(spool[index], expected[index])
    assert not list(tmp_path.iterdir())  # the temporary file had no name, and is closed now


def test_frames_make_room_for_a_tensor_built_in_memory(tmp_path):
    frames = [np.full((8, 8, 1), value, dtype=np.uint8) for value in range(5)]  # 320 bytes in all
    with FrameSpool(budget_bytes=1000, folder=tmp_path) as spool:
        for pixels in frames:
            spool.append(pixels)
        spool.reserve(600)
        assert not spool.spilled  # 320 + 600 fit in 1000
        spool.reserve(700)
        assert spool.spilled  # 320 + 700 would not: the frames went to the file, the tensor gets the memory
        assert all(np.array_equal(spool[index], pixels) for index, pixels in enumerate(frames))
