"""A step whose gradients are NaN or infinite (a bad backward pass, e.g. a bf16 kernel's) is skipped with the
weights kept, and said; ten such steps in a row stop the run cleanly with its last good checkpoint. The fault is
injected for real: a term whose value is 0 but whose gradient is NaN (the square root's slope at 0 times 0)."""
from __future__ import annotations

import dataclasses

import torch

from engine_helpers import tiny_config, tiny_dataset
from workbench.engine.events import FailedEvent, FinishedEvent, StepEvent, WarningEvent
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import MAX_SKIPPED_STEPS, Trainer
from workbench.tasks.rotation import RotationPrediction


def poison_steps(monkeypatch, bad_steps) -> list[torch.Tensor]:
    """Rotation prediction whose gradients are NaN at the training steps (1-based) for which `bad_steps` holds,
    its loss unchanged. Returns the list that gets the first conv's weights after each training step."""
    original_task_step, original_train_step = RotationPrediction.training_step, Trainer.train_step
    step, weights = [0], []

    def poisoned(self, images, augment, context=None):
        output = original_task_step(self, images, augment, context)
        if not bad_steps(step[0]):
            return output
        weight = next(self.parameters())
        nan_slope = torch.sqrt((weight - weight.detach()).pow(2).sum())  # value 0, gradient NaN
        return dataclasses.replace(output, loss=output.loss + nan_slope)

    def counted(self, *args, **kwargs):
        step[0] = self.step + 1
        original_train_step(self, *args, **kwargs)
        weights.append(self.model.encoder.state_dict()["body.0.0.weight"].clone())

    monkeypatch.setattr(RotationPrediction, "training_step", poisoned)
    monkeypatch.setattr(Trainer, "train_step", counted)
    return weights


def run(tmp_path, steps: int) -> tuple[Trainer, list]:
    data = tiny_dataset(tmp_path / "data", per_class=4, size=16)
    config = tiny_config(data, tmp_path / "runs", tasks={"rotation": {}}, data={"image_size": 16},
                         train={"steps": steps, "log_every": 1, "checkpoint_every": 2, "warmup_steps": 0,
                                "threads": 1}, eval={"every_steps": 100})
    trainer, events = Trainer(config), []
    trainer.run(events.append)
    return trainer, events


def test_a_step_with_nan_gradients_is_skipped_and_the_weights_kept(tmp_path, monkeypatch):
    weights = poison_steps(monkeypatch, lambda step: step == 3)
    trainer, events = run(tmp_path, steps=5)
    assert isinstance(events[-1], FinishedEvent), events[-1]
    assert torch.equal(weights[2], weights[1])  # step 3 changed nothing
    assert not torch.equal(weights[3], weights[2]) and all(torch.isfinite(w).all() for w in weights)
    skipped = [e for e in events if isinstance(e, WarningEvent) and "skipped" in e.message]
    assert [e.step for e in skipped] == [3] and "1 of the last 1 step(s) skipped" in skipped[0].message
    assert all(torch.isfinite(torch.tensor(e.values["loss"])) for e in events if isinstance(e, StepEvent))


def test_nan_gradients_every_step_stop_the_run_with_its_last_good_checkpoint(tmp_path, monkeypatch):
    poison_steps(monkeypatch, lambda step: step > 2)
    trainer, events = run(tmp_path, steps=40)
    assert isinstance(events[-1], FailedEvent), events[-1]
    assert f"NaN or infinite for {MAX_SKIPPED_STEPS} steps in a row" in events[-1].message
    assert f"up to step {2 + MAX_SKIPPED_STEPS}" in events[-1].message and events[-1].step == 1 + MAX_SKIPPED_STEPS
    kept = torch.load(RunFolder(trainer.run_dir).latest_checkpoint(), weights_only=True)
    assert all(torch.isfinite(value).all() for value in kept["model"].values() if value.is_floating_point())
