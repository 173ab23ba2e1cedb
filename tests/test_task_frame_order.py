"""Frame order verification: which frames it takes, the step on real sequences, and real training runs."""
from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from engine_helpers import tiny_config
from sequence_helpers import write_blob_sequences
from workbench.config import ModelConfig, field_info
from workbench.control import RunControl
from workbench.data.sequences import SequenceTable
from workbench.engine.events import EvalEvent, FinishedEvent, StepEvent
from workbench.engine.trainer import Trainer
from workbench.models import create_backbone
from workbench.tasks import BatchContext, get_task
from workbench.tasks.frame_order import frame_positions, shuffled_orders


def test_frame_order_is_described_with_its_paper_and_every_setting_has_help():
    task_class = get_task("frame_order")
    assert task_class.description and "Paper" in task_class.__doc__ and "Shuffle and Learn" in task_class.__doc__
    for field in dataclasses.fields(task_class.Config):
        assert field_info(field)["help"], f"frame_order.{field.name} has no help text"


def test_shuffled_orders_are_every_order_but_forward_and_backward():
    for frames in (3, 4, 5):
        orders = shuffled_orders(frames)
        assert len(orders) == len({tuple(order) for order in orders.tolist()}) == len(
            list(itertools.permutations(range(frames)))) - 2
        forward = list(range(frames))
        assert forward not in orders.tolist() and forward[::-1] not in orders.tolist()


def _fits(position: int, length: int, frames: int, step: int) -> bool:
    return any(position - slot * step >= 0 and position + (frames - 1 - slot) * step <= length - 1
               for slot in range(frames))


@pytest.mark.parametrize("frames,spacing", [(3, 1), (3, 4), (5, 2)])
def test_frame_positions_are_evenly_spaced_around_the_anchor_inside_its_sequence(frames, spacing):
    lengths = torch.arange(1, 13).repeat_interleave(12)
    positions = torch.cat([torch.arange(12) % length for length in range(1, 13)])
    chosen, slot, usable = frame_positions(positions, lengths, frames, spacing, torch.rand(len(lengths)))
    assert torch.equal(usable, lengths >= frames)
    for b in range(len(lengths)):
        p, length = int(positions[b]), int(lengths[b])
        if not usable[b]:
            assert chosen[b].tolist() == [p] * frames and slot[b] == 0
            continue
        steps = chosen[b].diff()
        step = int(steps[0])
        assert (steps == step).all() and 1 <= step <= spacing
        assert 0 <= chosen[b].min() and chosen[b].max() <= length - 1 and chosen[b, slot[b]] == p
        assert not any(_fits(p, length, frames, larger) for larger in range(step + 1, spacing + 1))


def _sequences_context(images: torch.Tensor, ids: torch.Tensor, positions: torch.Tensor,
                       rows: torch.Tensor) -> BatchContext:
    """The context the trainer would pass for `rows` of `images` with these sequence numbers."""
    table = SequenceTable(ids, positions)
    return BatchContext(indices=rows, sequence_ids=ids[rows], positions=table.position[rows],
                        lengths=table.length[rows], load_frames=lambda at: images[table.rows(rows, at)])


def make_task(**settings):
    torch.manual_seed(0)
    encoder = create_backbone(ModelConfig(backbone="small_cnn"), 1, 16)
    task_class = get_task("frame_order")
    return task_class(task_class.Config(classifier_hidden_dim=32, **settings), encoder, encoder.embed_dim)


def test_training_step_learns_from_sequence_images_only_and_needs_a_context():
    images = torch.randint(0, 256, (14, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    ids = torch.tensor([0] * 6 + [1] * 6 + [-1, -1])  # two sequences of six frames and two plain images
    positions = torch.tensor(list(range(6)) * 2 + [0, 0])
    rows = torch.tensor([0, 3, 5, 7, 11, 12, 13, 2])
    task = make_task(frames=4, spacing=2)
    output = task.training_step(images[rows], lambda x: x.float(), context=_sequences_context(images, ids, positions,
                                                                                             rows))
    assert output.loss.ndim == 0 and torch.isfinite(output.loss) and output.loss > 0
    assert output.embeddings.shape == (8, task.embed_dim) and not output.embeddings.requires_grad
    torch.testing.assert_close(output.per_sample_loss.mean(), output.loss.detach())
    assert (output.per_sample_loss[[5, 6]] == 0).all() and (output.per_sample_loss[[0, 1, 2, 3, 4, 7]] > 0).all()
    assert output.metrics["usable_share"] == 0.75 and 0 <= output.metrics["order_accuracy"] <= 1
    output.loss.backward()
    assert sum(p.grad.abs().sum() for p in task.encoder.parameters() if p.grad is not None) > 0
    with pytest.raises(ValueError, match="batch context"):
        task.training_step(images[rows], lambda x: x.float())


def _train(tmp_path, steps: int, moving: bool = True, **sections):
    data = write_blob_sequences(tmp_path / "data", moving=moving)
    config = tiny_config(data, tmp_path / "runs", data={"image_size": 24, "sequences": "folders"},
                         tasks=sections.pop("tasks", {"frame_order": {"classifier_hidden_dim": 64}}),
                         train={"steps": steps, "batch_size": 16, "log_every": 10, "warmup_steps": 0,
                                "threads": 1, **sections.pop("train", {})},
                         eval={"every_steps": steps, "subset_size": 48})
    events = []
    final = Trainer(config).run(events.append)
    assert isinstance(final, FinishedEvent), final
    return ([e.values for e in events if isinstance(e, StepEvent)],
            [e.values for e in events if isinstance(e, EvalEvent)])


def test_order_of_a_moving_blob_is_learnt_well_above_chance(tmp_path):
    logged, health = _train(tmp_path, steps=120)
    accuracy = [values["frame_order/order_accuracy"] for values in logged]
    losses = [values["loss"] for values in logged]
    assert sum(accuracy[-3:]) / 3 > 0.75, accuracy  # chance is 0.5; about 0.9 here after 120 steps
    assert accuracy[0] < 0.7 and sum(losses[-3:]) < sum(losses[:3]), (accuracy, losses)
    assert all(values["frame_order/usable_share"] == 1.0 for values in logged)
    assert health[-1]["embedding_std"] > 0.15


def test_order_of_a_standing_blob_cannot_be_told(tmp_path):
    """Frames that do not change leave nothing to learn: any accuracy above chance would be a leak of the
    answer through the way examples are drawn or shown."""
    logged, _ = _train(tmp_path, steps=60, moving=False)
    accuracy = [values["frame_order/order_accuracy"] for values in logged]
    assert 0.38 < sum(accuracy) / len(accuracy) < 0.62, accuracy


def test_resume_with_frame_order_and_simclr_repeats_the_losses(tmp_path):
    tasks = {"frame_order": {"classifier_hidden_dim": 32, "spacing": 2}, "simclr": {"projector_hidden_dim": 32}}
    settings = {"steps": 8, "checkpoint_every": 4, "log_every": 2}
    full, _ = _train(tmp_path / "a", steps=8, tasks=tasks, train=settings)
    data = tmp_path / "a" / "data"
    control = RunControl()
    config = tiny_config(data, tmp_path / "b", data={"image_size": 24, "sequences": "folders"}, tasks=tasks,
                         train={**settings, "batch_size": 16, "warmup_steps": 0, "threads": 1},
                         eval={"every_steps": 8, "subset_size": 48})
    trainer = Trainer(config, control=control)
    trainer.run(lambda event: control.cancel() if isinstance(event, StepEvent) and event.step == 4 else None)
    resumed = []
    assert isinstance(Trainer(run_dir=trainer.run_dir, resume=True).run(resumed.append), FinishedEvent)
    expected = {step: values for step, values in zip((2, 4, 6, 8), full)}
    got = {e.step: e.values for e in resumed if isinstance(e, StepEvent)}
    assert list(got) == [6, 8]
    for step, values in got.items():
        for key in ("loss", "frame_order/loss", "simclr/loss", "frame_order/order_accuracy"):
            assert values[key] == pytest.approx(expected[step][key], rel=1e-5, abs=1e-6), key
