"""The batch context: sequences in the data layer, what the trainer passes to tasks, and the
same-volume negatives it makes possible in the contrastive losses."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_helpers import write_ct_study, write_gray_png
from engine_helpers import tiny_config
from sequence_helpers import write_numbered_frames
from workbench.config import DataConfig, ModelConfig
from workbench.data import load_dataset
from workbench.data.sequences import SequenceTable, natural_key
from workbench.engine.events import FinishedEvent
from workbench.engine.model import MultiTaskModel
from workbench.engine.trainer import Trainer
from workbench.models import create_backbone
from workbench.tasks import BatchContext, PretextTask, TaskOutput, get_task, load_plugins, register_task
from workbench.tasks.losses import info_nce_loss, nt_xent_loss

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
CT_WINDOW = {"dicom_window": "manual", "window_center": -275.0, "window_width": 300.0}
"""Covers the synthetic CT's -400 to -150 HU, so a slice's gray value rises with its position."""


def test_natural_key_compares_numbers_as_numbers():
    names = ["frame_10.png", "Frame_9.png", "frame_2.png", "frame_1b.png", "frame_1a.png"]
    assert sorted(names, key=natural_key) == ["frame_1a.png", "frame_1b.png", "frame_2.png", "Frame_9.png",
                                              "frame_10.png"]


def test_folder_sequences_are_in_natural_file_order(tmp_path):
    write_numbered_frames(tmp_path / "clip_a", [10, 2, 1, 9])
    write_numbered_frames(tmp_path / "clip_b", [3, 11, 20])
    write_gray_png(tmp_path / "single.png", size=16)
    dataset = load_dataset(DataConfig(root=str(tmp_path), image_size=16, sequences="folders"))
    numbers = (dataset.images[:, 0, 0, 0].long() // 10).tolist()
    by_sequence: dict[int, list[tuple[int, int]]] = {}
    for row, (sequence, position) in enumerate(zip(dataset.sequence_index.tolist(),
                                                   dataset.sequence_position.tolist())):
        by_sequence.setdefault(sequence, []).append((position, row))
    assert len(by_sequence) == 3 and -1 not in by_sequence  # two clips, and the root folder's one image
    frames = sorted(([numbers[row] for _, row in sorted(members)] for members in by_sequence.values()), key=len)
    assert frames[1:] == [[3, 11, 20], [1, 2, 9, 10]] and len(frames[0]) == 1
    assert all(sorted(position for position, _ in members) == list(range(len(members)))
               for members in by_sequence.values())  # positions 0..n-1, no gaps
    plain = load_dataset(DataConfig(root=str(tmp_path), image_size=16))
    assert plain.sequence_index.tolist() == [-1] * len(plain) and plain.volume_index.tolist() == [-1] * len(plain)


def test_volumes_are_sequences_in_slice_order_even_when_thinned(tmp_path):
    write_ct_study(tmp_path / "ct")  # six axial slices, files in shuffled order
    write_gray_png(tmp_path / "plain.png", size=16)
    for slices, expected in ((0, 6), (3, 3)):
        dataset = load_dataset(DataConfig(root=str(tmp_path), image_size=16, slices_per_volume=slices,
                                          sequences="folders", **CT_WINDOW))
        in_volume = dataset.volume_index >= 0
        assert torch.equal(dataset.sequence_index[in_volume], dataset.volume_index[in_volume])
        positions = dataset.sequence_position[in_volume]
        gray = dataset.images[in_volume][:, 0, 8, 8].long()
        assert sorted(positions.tolist()) == list(range(expected))
        assert gray[positions.argsort()].diff().gt(0).all()  # higher position, higher slice
        assert dataset.sequence_index[~in_volume].tolist() == [1]  # the plain image: its folder's sequence


def test_sequence_table_rows_clamp_to_the_sequence_and_singles_stand_alone():
    ids = torch.tensor([1, -1, 1, 0, 1, 0])
    positions = torch.tensor([2, 0, 0, 1, 1, 0])
    table = SequenceTable(ids, positions)
    assert table.length.tolist() == [3, 1, 3, 2, 3, 2] and table.longest == 3
    assert table.position.tolist() == positions.tolist()
    rows = table.rows(torch.tensor([0, 1, 3]), torch.tensor([[0, 1, 2, 5], [0, 1, -1, 2], [-2, 0, 1, 2]]))
    assert rows.tolist() == [[2, 4, 0, 0], [1, 1, 1, 1], [5, 5, 3, 3]]


def _loop_nt_xent(z1, z2, temperature, exclude):
    """NT-Xent written out view by view, candidates filtered by hand."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    batch = z1.shape[0]
    losses = []
    for i in range(2 * batch):
        image, partner = i % batch, (i + batch) % (2 * batch)
        candidates = [j for j in range(2 * batch)
                      if j != i and (j % batch == image or not exclude[image, j % batch])]
        logits = torch.stack([z[i] @ z[j] for j in candidates]) / temperature
        losses.append(torch.logsumexp(logits, 0) - z[i] @ z[partner] / temperature)
    per_view = torch.stack(losses)
    return (per_view[:batch] + per_view[batch:]) / 2


def test_masked_nt_xent_matches_a_loop_and_changes_nothing_without_shared_volumes():
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 5), torch.randn(6, 5)
    ids = torch.tensor([0, 0, 1, -1, 0, 2])
    same = (ids[:, None] == ids[None]) & (ids[:, None] >= 0)
    loss, per_sample = nt_xent_loss(z1, z2, 0.3, same)
    torch.testing.assert_close(per_sample, _loop_nt_xent(z1, z2, 0.3, same))
    torch.testing.assert_close(loss, per_sample.mean())
    assert not torch.allclose(per_sample, nt_xent_loss(z1, z2, 0.3)[1])
    distinct = torch.eye(6, dtype=torch.bool)  # every image its own volume: only the diagonal is set
    for exclude in (distinct, torch.zeros(6, 6, dtype=torch.bool)):
        masked, masked_per_sample = nt_xent_loss(z1, z2, 0.3, exclude)
        plain, plain_per_sample = nt_xent_loss(z1, z2, 0.3)
        assert torch.equal(masked, plain) and torch.equal(masked_per_sample, plain_per_sample)


def test_masked_info_nce_matches_a_loop():
    torch.manual_seed(1)
    query, key = torch.randn(5, 4), torch.randn(5, 4)
    exclude = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 1]],
                           dtype=torch.bool)
    q, k = F.normalize(query, dim=1), F.normalize(key, dim=1)
    expected = torch.stack([torch.logsumexp(torch.stack([q[i] @ k[j] for j in range(5) if j == i or not exclude[i, j]])
                                            / 0.2, 0) - q[i] @ k[i] / 0.2 for i in range(5)])
    torch.testing.assert_close(info_nce_loss(query, key, 0.2, exclude=exclude), expected)
    torch.testing.assert_close(info_nce_loss(query, key, 0.2, exclude=torch.eye(5, dtype=torch.bool)),
                               info_nce_loss(query, key, 0.2))


def _context_of(ids: torch.Tensor) -> BatchContext:
    """A context with these sequence ids (the frames are never loaded by SimCLR)."""
    ones = torch.ones_like(ids)
    return BatchContext(indices=torch.arange(len(ids)), sequence_ids=ids, positions=0 * ones, lengths=ones,
                        load_frames=lambda positions: None)


@pytest.mark.parametrize("name", ["simclr", "moco"])  # MoCo v3: negatives from the batch
def test_contrastive_tasks_leave_out_negatives_of_the_same_volume_unless_told_not_to(name):
    images = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    shared, distinct = torch.tensor([0, 0, 0, 1, 1, -1]), torch.tensor([0, 1, 2, 3, -1, -1])

    def loss(context, **settings):
        torch.manual_seed(0)
        encoder = create_backbone(ModelConfig(backbone="small_cnn"), 1, 16)
        task = get_task(name)(get_task(name).Config(projector_hidden_dim=16, **settings), encoder,
                              encoder.embed_dim)
        view_noise = torch.Generator().manual_seed(3)
        return task.training_step(images, lambda x: x.float() / 255 + 0.1 * torch.randn(x.shape, generator=view_noise),
                                  context=context).loss

    plain = loss(None)
    assert loss(_context_of(shared)) < plain  # fewer negatives to tell the views from
    assert torch.equal(loss(_context_of(distinct)), plain)
    assert torch.equal(loss(_context_of(shared), exclude_same_volume_negatives=False), plain)


SEEN: list[tuple[BatchContext, torch.Tensor, torch.Tensor]] = []


@register_task("context_probe")
class ContextProbe(PretextTask):
    """Test task: records the context of each training step (not of no-grad loss passes at evaluations),
    with two frames loaded through it."""

    uses_batch_context = True

    def training_step(self, images, augment, context=None):
        frames = context.load_frames(torch.stack([context.positions, context.positions + 1], dim=1))
        if torch.is_grad_enabled():
            SEEN.append((context, images.clone(), frames))
        features = self.encoder(augment(images))
        return TaskOutput(loss=features.square().mean(), embeddings=features.detach())


def _ct_folder(root: Path) -> Path:
    write_ct_study(root / "a", uids=("1.2.7.1", "1.2.7.1.1"))
    write_ct_study(root / "b", identity={"PatientID": "someone else"}, uids=("1.2.7.2", "1.2.7.2.1"))
    for index in range(4):
        write_gray_png(root / "plain" / f"image_{index}.png", size=16, seed=index)
    return root


def test_trainer_passes_each_batch_its_volumes_and_frames_and_tasks_that_ignore_it_still_run(tmp_path):
    load_plugins([PLUGINS])  # flip_prediction: a plugin task that does not read the context
    SEEN.clear()
    data = _ct_folder(tmp_path / "data")
    config = tiny_config(data, tmp_path / "runs", data={"image_size": 16, **CT_WINDOW},
                         tasks={"context_probe": {}, "simclr": {}, "flip_prediction": {}},
                         train={"steps": 3, "batch_size": 8, "threads": 1}, eval={"every_steps": 3})
    trainer = Trainer(config)
    assert isinstance(trainer.run(), FinishedEvent)
    dataset = trainer.dataset
    assert sorted(set(dataset.volume_index.tolist())) == [-1, 0, 1]
    assert len(SEEN) == 3
    for context, images, frames in SEEN:
        rows = context.indices
        assert torch.equal(images, dataset.images[rows])
        volumes = dataset.volume_index[rows]
        assert torch.equal(context.sequence_ids, volumes)  # sequences = volumes here
        assert torch.equal(context.same_sequence(), (volumes[:, None] == volumes[None]) & (volumes[:, None] >= 0))
        assert torch.equal(frames[:, 0], images)  # position p of its own sequence is the image itself
        for b, row in enumerate(rows.tolist()):
            volume = int(dataset.volume_index[row])
            if volume < 0:
                assert torch.equal(frames[b, 1], images[b])  # a plain image is a sequence of one
                continue
            members = (dataset.volume_index == volume).nonzero().flatten()
            ordered = members[dataset.sequence_position[members].argsort()]
            following = ordered[min(int(dataset.sequence_position[row]) + 1, len(ordered) - 1)]
            assert torch.equal(frames[b, 1], dataset.images[following])


def test_a_model_without_context_tasks_builds_no_context(tmp_path):
    config = tiny_config(tmp_path, tmp_path / "runs", tasks={"rotation": {}})
    assert not MultiTaskModel(config, 1).uses_batch_context
    config = tiny_config(tmp_path, tmp_path / "runs", tasks={"rotation": {}, "simclr": {}})
    assert MultiTaskModel(config, 1).uses_batch_context


def test_frame_order_without_sequences_stops_at_the_start_with_what_to_change(tmp_path):
    for index in range(6):
        write_gray_png(tmp_path / "data" / f"image_{index}.png", size=16, seed=index)
    config = tiny_config(tmp_path / "data", tmp_path / "runs", data={"image_size": 16}, tasks={"frame_order": {}})
    events = []
    final = Trainer(config).run(events.append)
    assert type(final).__name__ == "FailedEvent" and final.step == 0
    assert "frame_order needs image sequences of at least 3 frames" in final.message
    assert "data.sequences: folders" in final.message and "volume data" in final.message
    assert not any(type(event).__name__ == "EvalEvent" for event in events)  # stopped before any work
