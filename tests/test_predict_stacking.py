"""Trying an image on a 2.5-D run (`data.context_slices: 1`) of real one-slice-per-file DICOM series: a dataset
slice is embedded from its training row, a copy of a series outside the dataset is stacked by the training rule,
and a lone slice says plainly that its neighbours were not found."""
import shutil

import pytest
import torch

from data_helpers import CT_POSITIONS, write_ct_study, write_gray_png, write_multiframe_ct
from engine_helpers import tiny_config
from workbench.control import CancelledError, CancelToken
from workbench.engine.trainer import Trainer
from workbench.probes.context import embed_images
from workbench.probes.predict import ALONE, NEIGHBOURS, OWN_ROW, PLAIN_IMAGE, ImagePredictor

SERIES = {"a": (("1.2.826.0.1.3680043.8.498.71.1", "1.2.826.0.1.3680043.8.498.71.2"), CT_POSITIONS),
          "b": (("1.2.826.0.1.3680043.8.498.72.1", "1.2.826.0.1.3680043.8.498.72.2"), (0.0, 5.0, 10.0, 15.0, 20.0))}
WAIT_MS = 90_000


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two labelled CT series (folders a and b) of 6 and 5 axial slices, one per file, each with a scout and a
    reformat. Each slice is one HU value; under each series' automatic window no slice of a is one of b."""
    root = tmp_path_factory.mktemp("stacking-data")
    for name, (uids, positions) in SERIES.items():
        write_ct_study(root / name, identity={"PatientID": f"patient-{name}"}, uids=uids, positions=positions)
    return root


@pytest.fixture(scope="module")
def predictor(data, tmp_path_factory):
    config = tiny_config(data, tmp_path_factory.mktemp("stacking-runs"),
                         data={"image_size": 16, "context_slices": 1},
                         train={"steps": 3, "batch_size": 4, "checkpoint_every": 3}, eval={"every_steps": 3})
    trainer = Trainer(config)
    trainer.run()
    return ImagePredictor.open(trainer.run_dir, device="cpu", neighbours=4)


def row_of(dataset, folder: str, slice_index: int) -> int:
    """The dataset row of the slice at `slice_index` of series `folder`."""
    rows = [row for row, record in enumerate(dataset.report.images)
            if record.path.startswith(f"{folder}/") and record.slice_index == slice_index]
    assert len(rows) == 1
    return rows[0]


def distinct_channels(image: torch.Tensor) -> bool:
    return all(not torch.equal(image[i], image[j]) for i in range(len(image)) for j in range(i + 1, len(image)))


def test_a_dataset_slice_embeds_exactly_as_its_training_row(predictor):
    dataset, encoder = predictor.context.dataset, predictor.context.encoder
    assert dataset.stacked_slices and dataset.images.shape[1:] == (3, 16, 16) and len(dataset) == 11
    for slice_index in (2, 3, 0):  # middle slices, and one at the volume's edge
        row = row_of(dataset, "a", slice_index)
        path = predictor.dataset_root / dataset.report.images[row].path
        tried = predictor.image_tensor(path)
        assert torch.equal(tried.image, dataset.images[row]) and tried.stacking == OWN_ROW
        assert (tried.frame, tried.frames) == (0, 1)
        assert torch.equal(embed_images(encoder, tried.image[None], predictor.context.device),
                           embed_images(encoder, dataset.images[row:row + 1], predictor.context.device))
        prediction = predictor.predict(path)
        assert prediction.stacking == OWN_ROW
        assert prediction.neighbours[0].index == row
        assert prediction.neighbours[0].similarity == pytest.approx(1.0, abs=1e-5)
    middle = predictor.image_tensor(predictor.dataset_root / dataset.report.images[row_of(dataset, "a", 2)].path)
    assert distinct_channels(middle.image)  # slices 1, 2 and 3: real neighbours, not the slice repeated


def test_a_copy_of_a_series_outside_the_dataset_is_stacked_by_the_training_rule(predictor, tmp_path):
    dataset = predictor.context.dataset
    shutil.copytree(predictor.dataset_root / "b", tmp_path / "elsewhere")
    for slice_index in (2, 4):  # a middle slice, and the last one (its upper neighbour repeats it)
        record = dataset.report.images[row_of(dataset, "b", slice_index)]
        tried = predictor.image_tensor(tmp_path / "elsewhere" / record.path.split("/", 1)[1])
        assert tried.stacking == NEIGHBOURS
        assert torch.equal(tried.image, dataset.images[row_of(dataset, "b", slice_index)])  # the same input
    assert distinct_channels(tried.image[:2]) and torch.equal(tried.image[1], tried.image[2])
    scout = predictor.predict(tmp_path / "elsewhere" / "scout.dcm")  # training leaves the scout out
    assert "training leaves it out" in scout.stacking and "localizer/scout" in scout.stacking
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):  # loading the folder stops when the user cancels
        predictor.predict(tmp_path / "elsewhere" / "slice_00.dcm", cancel=token)


def test_a_lone_slice_says_its_neighbours_were_not_found(predictor, tmp_path):
    source = predictor.dataset_root / predictor.context.dataset.report.images[row_of(
        predictor.context.dataset, "a", 2)].path
    lone = tmp_path / "lone" / "slice.dcm"
    lone.parent.mkdir()
    shutil.copyfile(source, lone)
    tried = predictor.image_tensor(lone)
    assert tried.stacking == ALONE.format(channels=3) and "not found" in tried.stacking
    assert torch.equal(tried.image[0], tried.image[1]) and torch.equal(tried.image[1], tried.image[2])
    prediction = predictor.predict(lone)
    assert prediction.stacking == tried.stacking and prediction.pixels.shape == (16, 16, 1)

    write_gray_png(tmp_path / "photo" / "photo.png", size=16)  # a plain 2-D image fills every channel
    photo = predictor.image_tensor(tmp_path / "photo" / "photo.png")
    assert photo.stacking == PLAIN_IMAGE.format(channels=3) and photo.image.shape == (3, 16, 16)
    assert torch.equal(photo.image[0], photo.image[2]) and photo.image.dtype == torch.uint16


def test_a_multi_frame_file_stacks_its_frames_in_slice_order_not_file_order(predictor, tmp_path):
    path = tmp_path / "enhanced" / "ct.dcm"
    path.parent.mkdir()
    write_multiframe_ct(path, positions=(10.0, 0.0, 20.0, 5.0, 15.0))  # frames stored out of slice order
    top = predictor.image_tensor(path)  # the middle frame of the file: z = 20, the volume's last slice
    bottom = predictor.image_tensor(path, frame=1)  # z = 0, the first slice
    assert (top.frame, top.frames, bottom.frame) == (2, 5, 1) and top.stacking == NEIGHBOURS
    assert torch.equal(top.image[1], top.image[2]) and not torch.equal(top.image[0], top.image[1])  # z 15, 20, 20
    assert torch.equal(bottom.image[0], bottom.image[1]) and not torch.equal(bottom.image[1], bottom.image[2])
    assert top.image[1].float().mean() > top.image[0].float().mean() > bottom.image[2].float().mean()


def test_the_try_image_box_shows_where_the_channels_came_from(qtbot, predictor, tmp_path):
    from workbench.gui.try_image import TryImageBox

    lone = tmp_path / "slice.dcm"
    shutil.copyfile(next((predictor.dataset_root / "a").glob("slice_*.dcm")), lone)
    box = TryImageBox()
    qtbot.addWidget(box)
    box.resize(1100, 320)
    box.show()
    box.set_run(predictor.context.folder.path)
    with qtbot.waitSignal(box.predicted, timeout=WAIT_MS) as signal:
        box.try_image(lone)
    qtbot.waitUntil(lambda: not box.busy(), timeout=WAIT_MS)
    assert signal.args[0].stacking == ALONE.format(channels=3)
    assert "2.5-D input: its neighbouring slices were not found" in box.method_label.text()
    box.shutdown()
