"""The built-in demo dataset: deterministic, complete, generated once."""
from __future__ import annotations

from workbench.config import DataConfig
from workbench.data import dataset_folder, demo_dataset_dir, load_dataset
from workbench.data.demo import CLASSES, DEMO_PER_CLASS, write_demo_dataset


def folder_bytes(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*.png"))}


def test_demo_generation_is_deterministic(tmp_path):
    write_demo_dataset(tmp_path / "one", per_class=3, size=32, seed=7)
    write_demo_dataset(tmp_path / "two", per_class=3, size=32, seed=7)
    write_demo_dataset(tmp_path / "other", per_class=3, size=32, seed=8)
    one = folder_bytes(tmp_path / "one")
    assert one == folder_bytes(tmp_path / "two") and one != folder_bytes(tmp_path / "other")
    assert sorted(path.name for path in (tmp_path / "one").iterdir()) == sorted(CLASSES)
    assert len(one) == 12


def test_demo_dataset_is_generated_once_and_loads_labelled(tmp_path):
    folder = demo_dataset_dir(tmp_path)
    first_file = folder / CLASSES[0] / f"{CLASSES[0]}_0000.png"
    stamp = first_file.stat().st_mtime_ns
    assert demo_dataset_dir(tmp_path) == folder and first_file.stat().st_mtime_ns == stamp
    (folder / ".complete").unlink()  # an interrupted generation is redone
    assert demo_dataset_dir(tmp_path) == folder and (folder / ".complete").is_file()
    dataset = load_dataset(DataConfig(root="", cache_dir=str(tmp_path), image_size=32))
    assert len(dataset) == len(CLASSES) * DEMO_PER_CLASS and dataset.channels == 1
    assert dataset.class_names == sorted(CLASSES) and dataset.num_labelled == len(dataset)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".demo-building")] == []


def test_the_demo_folder_is_found_under_the_configs_own_cache_folder(tmp_path):
    """With data.cache_dir set, the loader and the app look for the demo in that cache folder, not the default."""
    assert dataset_folder(DataConfig(cache_dir=str(tmp_path))).parent == tmp_path
    assert dataset_folder(DataConfig(root=str(tmp_path / "scans"))) == tmp_path / "scans"


def test_every_demo_scan_shows_its_whole_body_inside_the_picture():
    import numpy as np

    from workbench.data.demo import DEMO_SEED, DEMO_SIZE, synthetic_scan

    rng = np.random.default_rng(DEMO_SEED)
    for index in range(len(CLASSES) * DEMO_PER_CLASS):
        image = synthetic_scan(rng, CLASSES[index % len(CLASSES)], DEMO_SIZE)
        for edge in (image[:, 0], image[:, -1], image[0], image[-1]):  # 5 pixels in a row bright: the body
            assert np.convolve(edge, np.ones(5) / 5, mode="valid").max() < 0.3, f"scan {index} touches an edge"
