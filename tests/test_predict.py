"""Trying one image on a real tiny run: its class, its nearest images, whether it is out of distribution,
DICOM input, clear errors."""
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image

from engine_helpers import tiny_config, tiny_dataset
from workbench.control import CancelledError, CancelToken
from workbench.data import read_frames
from workbench.data.augment import to_unit
from workbench.data.scan import square_resize
from workbench.engine.trainer import Trainer
from workbench.probes.classifier_export import build_classifier, export_classifier
from workbench.probes.context import open_run
from workbench.probes.familiarity import TrainingSpread
from workbench.probes.predict import ImagePredictor

DICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("predict-data"), per_class=4)
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("predict-runs"), train={"steps": 4}))
    trainer.run()
    return trainer.run_dir


@pytest.fixture(scope="module")
def predictor(run_dir):
    return ImagePredictor.open(run_dir, device="cpu")


def test_a_training_image_gets_its_class_and_is_its_own_nearest_image(predictor):
    dataset = predictor.context.dataset
    assert predictor.method == "linear head trained on 16 labelled images"
    right = 0
    for index, record in enumerate(dataset.report.images):
        path = predictor.dataset_root / record.path
        image, frame, frames, stacking = predictor.image_tensor(path)
        assert torch.equal(image, dataset.images[index]) and (frame, frames) == (0, 1)  # read exactly as cached
        assert stacking == ""  # no 2.5-D input in this run
        prediction = predictor.predict(path)
        assert len(prediction.neighbours) == 8
        assert prediction.neighbours[0].record.path == record.path
        assert prediction.neighbours[0].similarity == pytest.approx(1.0, abs=1e-4)
        similarities = [n.similarity for n in prediction.neighbours]
        assert similarities == sorted(similarities, reverse=True)
        assert sum(score.probability for score in prediction.classes) == pytest.approx(1.0, abs=1e-5)
        assert [s.probability for s in prediction.classes] == sorted((s.probability for s in prediction.classes),
                                                                     reverse=True)
        assert sorted(s.name for s in prediction.classes) == dataset.class_names
        right += prediction.best.name == record.label
        assert not prediction.familiarity.out_of_distribution
    assert right == len(dataset)  # the head was trained on these very images


def test_an_image_unlike_the_training_images_is_out_of_distribution(predictor, tmp_path):
    held_out = tiny_dataset(tmp_path / "more", per_class=6)  # the same generator: images 4 and 5 were not trained on
    for path in sorted(held_out.rglob("*_000[45].png")):
        familiarity = predictor.predict(path).familiarity
        assert not familiarity.out_of_distribution, path.name
    unlike = [DICOM_FILES / "CT_small.dcm", tmp_path / "noise.png"]  # a real CT slice; pixel noise
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (32, 32), dtype=np.uint8)).save(unlike[-1])
    for path in unlike:
        familiarity = predictor.predict(path).familiarity
        assert familiarity.out_of_distribution, path.name
        assert familiarity.distance > familiarity.threshold >= familiarity.usual > 0
        assert familiarity.times_usual == pytest.approx(familiarity.distance / familiarity.usual)
        assert (familiarity.nearest, familiarity.percentile) == (5, 99.0)


def test_the_training_spread_is_each_embedding_s_kth_nearest_other_one():
    z = torch.nn.functional.normalize(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    distances = torch.cdist(z, z).fill_diagonal_(float("inf"))
    third = distances.sort(dim=1).values[:, 2]  # brute force: each one's 3rd nearest other embedding
    spread = TrainingSpread(z, nearest=3, percentile=90.0)
    assert spread.usual == pytest.approx(float(third.median()), abs=1e-5)
    assert spread.threshold == pytest.approx(float(torch.quantile(third, 0.9)), abs=1e-5)
    query = torch.nn.functional.normalize(z[0] + 0.3 * z[1], dim=0)
    check = spread.check(z @ query)
    assert check.distance == pytest.approx(float(torch.cdist(query[None], z)[0].sort().values[2]), abs=1e-5)

    sampled = TrainingSpread(z, nearest=3, sample=10)  # a big dataset measures a sample of its embeddings
    assert float((third - sampled.usual).abs().min()) < 1e-5 and sampled.threshold <= float(third.max()) + 1e-5
    assert TrainingSpread(z[:3]).nearest == 2  # a tiny dataset compares fewer neighbours
    with pytest.raises(ValueError, match="needs at least 2"):
        TrainingSpread(z[:1])


def test_the_exported_classifier_head_is_used_when_it_fits_the_checkpoint(run_dir, predictor):
    context = open_run(run_dir, device="cpu")
    export_classifier(context)
    reopened = ImagePredictor.open(run_dir, device="cpu")
    assert reopened.method == "linear head of the exported classifier, trained on 16 labelled images"
    record = context.dataset.report.images[5]
    prediction = reopened.predict(reopened.dataset_root / record.path)
    with torch.no_grad():
        expected = build_classifier(context)(to_unit(context.dataset.images[5:6])).softmax(dim=1)[0]
    by_name = {score.name: score.probability for score in prediction.classes}
    assert [by_name[name] for name in context.dataset.class_names] == pytest.approx(expected.tolist(), abs=1e-4)


def test_dicom_files_are_read_with_the_run_settings(predictor):
    path = DICOM_FILES / "CT_small.dcm"
    prediction = predictor.predict(path)
    assert len(prediction.neighbours) == 8 and prediction.best is not None
    assert prediction.pixels.shape == (32, 32, 1) and (prediction.frame, prediction.frames) == (0, 1)
    windowed = square_resize(read_frames(path, predictor.context.config.data)[0].pixels, 32)
    assert np.abs(prediction.pixels - windowed).max() <= 0.5 / 255 + 1e-6  # the reader's window, quantised
    assert 0.05 < prediction.pixels.std()  # a real picture, not a blank

    multi = predictor.predict(DICOM_FILES / "SC_rgb_rle_2frame.dcm")
    assert (multi.frame, multi.frames) == (1, 2) and multi.pixels.shape == (32, 32, 1)  # RGB to the run's gray
    first = predictor.predict(DICOM_FILES / "SC_rgb_rle_2frame.dcm", frame=0)
    assert first.frame == 0 and not np.array_equal(first.pixels, multi.pixels)


def test_an_unreadable_or_missing_file_gives_a_clear_error(predictor, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    with pytest.raises(ValueError, match="broken.png could not be read as an image"):
        predictor.predict(broken)
    with pytest.raises(ValueError, match="is not a file"):
        predictor.predict(tmp_path / "missing.png")


def test_preparing_reports_progress_and_can_be_cancelled(run_dir):
    context = open_run(run_dir, device="cpu")
    seen = []
    ImagePredictor(context, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 16) and seen[-1] == (16, 16)
    token = CancelToken()
    with pytest.raises(CancelledError):
        ImagePredictor(context, cancel=token, progress=lambda done, total: token.cancel())


def test_one_labelled_class_votes_and_no_labels_show_only_neighbours(run_dir, tmp_path):
    context = open_run(run_dir, device="cpu")
    context.dataset.labels = torch.where(context.dataset.labels == 2, 2, -1)  # only one class labelled
    voting = ImagePredictor(context, neighbours=3)
    record = context.dataset.report.images[0]
    prediction = voting.predict(voting.dataset_root / record.path)
    assert voting.method == "vote of the 3 nearest labelled images (all 4 labelled images are of one class)"
    assert prediction.best.name == context.dataset.class_names[2] and prediction.best.probability == 1.0

    rng = np.random.default_rng(0)
    for number in range(6):  # files in the dataset folder itself: no labels
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(tmp_path / f"scan_{number}.png")
    trainer = Trainer(tiny_config(tmp_path, tmp_path / "runs", train={"steps": 3, "batch_size": 4}))
    trainer.run()
    unlabelled = ImagePredictor.open(trainer.run_dir, device="cpu", neighbours=4)
    prediction = unlabelled.predict(tmp_path / "scan_3.png")
    assert prediction.classes == [] and prediction.best is None and "no labels" in unlabelled.method
    assert [n.label for n in prediction.neighbours] == [None] * 4
    assert prediction.neighbours[0].record.path == "scan_3.png"
