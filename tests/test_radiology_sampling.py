"""Slice sampling for 2-D training, 2.5-D stacks, and patient-level splits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data_helpers import write_ct_study, write_gray_png
from workbench.config import DataConfig
from workbench.data import group_split, load_dataset
from workbench.data.demo_ct import write_ct_slice
from workbench.data.sampling import EMPTY_REASON, SPACING_REASON, evenly_spaced


def config(root, tmp_path, **changes) -> DataConfig:
    return DataConfig(root=str(root), cache_dir=str(tmp_path / "cache"), image_size=16, dicom_window="manual",
                      window_center=0.0, window_width=1000.0, **changes)


def slice_z(dataset, row, channel=0) -> float:
    """The z a cached slice shows (its pixels are 10 * z HU under the 0/1000 window)."""
    return float((dataset.images[row, channel].double() / 65535 * 1000 - 500).mean()) / 10


def test_evenly_spaced():
    assert evenly_spaced(list(range(10)), 4) == [0, 3, 6, 9]
    assert evenly_spaced(list(range(10)), 1) == [5]
    assert evenly_spaced([1, 2], 5) == [1, 2] and evenly_spaced([1, 2, 3], 0) == [1, 2, 3]


def test_slices_per_volume_spreads_over_the_volume(tmp_path):
    write_ct_study(tmp_path / "ct")
    write_gray_png(tmp_path / "photo.png", size=16)
    dataset = load_dataset(config(tmp_path, tmp_path, slices_per_volume=3))
    assert len(dataset) == 4 and dataset.volume_index.tolist() == [0, 0, 0, -1]
    np.testing.assert_allclose([slice_z(dataset, row) for row in range(3)], [-40, -30, -15], atol=0.05)
    assert dataset.report.slices_left_out == {SPACING_REASON: 3}
    assert dataset.report.to_json()["slices_left_out"] == {SPACING_REASON: 3}


def test_air_slices_dropped_by_min_foreground(tmp_path):
    air, body = np.full((16, 16), -1000.0), np.full((16, 16), -1000.0)
    body[4:12, 4:12] = 40.0  # a quarter of the slice is tissue
    (tmp_path / "ct").mkdir()
    for number, pixels in enumerate([air, body, body, air]):
        write_ct_slice(tmp_path / "ct" / f"{number}.dcm", pixels, {}, "1.2", "1.2.1", position=(0, 0, number),
                       instance=number)
    every = load_dataset(config(tmp_path / "ct", tmp_path))
    assert len(every) == 4 and [record.foreground for record in every.report.images] == [0.0, 0.25, 0.25, 0.0]
    chosen = load_dataset(config(tmp_path / "ct", tmp_path, min_foreground=0.1))
    assert [record.slice_index for record in chosen.report.images] == [1, 2]
    assert chosen.report.slices_left_out == {EMPTY_REASON: 2}


def test_context_slices_stack_neighbours_as_channels(tmp_path):
    write_ct_study(tmp_path / "ct")
    write_gray_png(tmp_path / "photo.png", size=16)
    dataset = load_dataset(config(tmp_path, tmp_path, context_slices=2, slices_per_volume=2))
    assert dataset.channels == 5 and dataset.images.shape == (3, 5, 16, 16) and dataset.stacked_slices
    first = [slice_z(dataset, 0, channel) for channel in range(5)]
    last = [slice_z(dataset, 1, channel) for channel in range(5)]
    np.testing.assert_allclose(first, [-40, -40, -40, -35, -30], atol=0.05)  # repeated at the volume's edge
    np.testing.assert_allclose(last, [-25, -20, -15, -15, -15], atol=0.05)
    photo = dataset.images[2].to(torch.int64)
    assert all(torch.equal(photo[0], photo[channel]) for channel in range(5))
    assert len(dataset.mean) == 5
    with pytest.raises(ValueError, match="context_slices=2 gives 5 channels"):
        load_dataset(config(tmp_path, tmp_path, context_slices=2, channels=1))


def test_group_split_never_splits_a_group():
    groups = [f"patient{index % 7}" for index in range(60)] + ["big"] * 25
    labels = [index % 7 % 2 for index in range(60)] + [1] * 25
    for seed in range(5):
        train, test = group_split(groups, labels, 0.3, seed)
        assert sorted(train + test) == list(range(len(groups)))
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        assert 0.15 * len(groups) <= len(test) <= 0.45 * len(groups)
    assert group_split(groups, labels, 0.3, 1) == group_split(groups, labels, 0.3, 1)
    with pytest.raises(ValueError, match="only 1 group"):
        group_split(["one"] * 5, [0] * 5, 0.3, 0)


def test_dataset_groups_are_aligned_hashes(tmp_path):
    write_ct_study(tmp_path / "a", uids=("1.2.5.1", "1.2.5.1.1"))
    write_ct_study(tmp_path / "b", identity={"PatientID": "someone else"}, uids=("1.2.5.2", "1.2.5.2.1"))
    dataset = load_dataset(config(tmp_path, tmp_path))
    assert len(dataset.groups) == len(dataset) == 12 and len(set(dataset.groups)) == 2
    train, test = group_split(dataset.groups, [0] * len(dataset), 0.5, 0)
    assert len(train) == len(test) == 6
    again = load_dataset(config(tmp_path, tmp_path))
    assert again.groups == dataset.groups  # the cache folder's salt makes pseudonyms stable
