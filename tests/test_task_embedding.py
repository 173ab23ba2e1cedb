"""Each task's embedding is the one its loss trains: masked modelling embeds with the mean of a ViT's patch tokens
(its class token is never trained), everywhere the embedding is read; and the verdict's advice fits the task."""
from __future__ import annotations

import pytest
import torch

from engine_helpers import tiny_config, tiny_dataset
from workbench import load_encoder
from workbench.data.augment import to_unit
from workbench.engine.checkpoint import Checkpoint
from workbench.engine.evaluation import embed
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.engine.verdict import COLLAPSING, VerdictJudge
from workbench.engine.events import EvalEvent, StepEvent
from workbench.export import export_run
from workbench.export.exporter import encoder_from_checkpoint
from workbench.probes.context import open_run
from workbench.tasks import PretextTask, get_task, register_task, registered_tasks
from workbench.tasks.pooling import run_pooling

VIT = {"backbone": "vit_tiny", "patch_size": 8}


def _train(tmp_path, tasks: dict, model: dict = VIT) -> Trainer:
    data = tiny_dataset(tmp_path / "data", per_class=3)
    trainer = Trainer(tiny_config(data, tmp_path / "runs", tasks=tasks, model=model,
                                  train={"steps": 2, "checkpoint_every": 2}, eval={"every_steps": 2}))
    assert type(trainer.run()).__name__ == "FinishedEvent"
    return trainer


@pytest.fixture(scope="module")
def mae_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("mae"), {"mae": {}})


def test_auto_pooling_follows_what_the_tasks_train():
    assert [name for name, task in registered_tasks().items() if not task.trains_class_token] == sorted(
        ["mae", "simmim", "reconstruction", "next_patch"], key=list(registered_tasks()).index)
    assert run_pooling("auto", ["mae"]) == run_pooling("auto", ["mae", "simmim"]) == "mean_patches"
    assert run_pooling("auto", ["mae", "simclr"]) == run_pooling("auto", ["rotation"]) == "cls"
    assert run_pooling("cls", ["mae"]) == "cls" and run_pooling("mean_patches", ["simclr"]) == "mean_patches"


def test_mae_embeds_with_the_mean_of_the_patch_tokens_in_evaluation_probes_and_exports(mae_run):
    encoder = mae_run.model.encoder.eval()
    images = mae_run.dataset.images[:5]
    with torch.no_grad():
        normalised = mae_run.augmenter.normalize(images)
        tokens = encoder.tokens(normalised)
    patch_mean, class_token = tokens[:, 1:].mean(dim=1), tokens[:, 0]
    evaluated = embed(encoder, images, mae_run.augmenter.normalize, torch.device("cpu"), 4)
    assert torch.allclose(evaluated, patch_mean, atol=1e-5)
    assert not torch.allclose(evaluated, class_token, atol=1e-3)

    # the probes' encoder (rebuilt from the checkpoint) and every export give the same embedding
    context = open_run(mae_run.run_dir)
    pixels = to_unit(images)
    probed = embed(context.encoder, images, to_unit, torch.device("cpu"), 4)
    assert torch.allclose(probed, patch_mean, atol=1e-5)
    for fmt in ("safetensors", "torchscript"):
        path = export_run(mae_run.run_dir, fmt)
        loaded = load_encoder(path)
        assert loaded.input_spec.model["pooling"] == "mean_patches"
        with torch.no_grad():
            assert torch.allclose(loaded(pixels), patch_mean, atol=1e-4), fmt


def test_contrastive_vits_keep_the_class_token_and_the_setting_overrides_auto(tmp_path):
    simclr = _train(tmp_path / "simclr", {"simclr": {}})
    assert simclr.model.encoder.pooling == "cls" and simclr.input_spec()["pooling"] == "cls"
    forced = _train(tmp_path / "forced", {"mae": {}}, dict(VIT, pooling="cls"))
    assert forced.model.encoder.pooling == "cls"
    encoder = forced.model.encoder.eval()
    images = forced.augmenter.normalize(forced.dataset.images[:3])
    with torch.no_grad():
        assert torch.allclose(encoder(images), encoder.tokens(images)[:, 0], atol=1e-5)


def test_checkpoints_from_before_the_choice_keep_the_class_token(mae_run, tmp_path):
    folder = RunFolder(mae_run.run_dir)
    state = Checkpoint.load(folder.latest_checkpoint())
    del state.input_spec["pooling"]  # as written before the pooling was recorded
    old = tmp_path / "old.pt"
    state.save(old)
    encoder, _, _ = encoder_from_checkpoint(mae_run.config, old)
    assert encoder.encoder.pooling == "cls"
    pixels = to_unit(mae_run.dataset.images[:3])
    with torch.no_grad():
        assert torch.allclose(encoder(pixels), encoder.encoder.tokens((pixels - encoder.mean) / encoder.std)[:, 0],
                              atol=1e-5)


def _collapsed_history() -> list:
    healthy = {"embedding_std": 0.4, "effective_rank": 20.0}
    return [StepEvent(step, step * 0.1, 4, {"loss": 3.0 - 0.1 * step}, 0.0) for step in range(1, 5)] + [
        EvalEvent(2, 0.2, healthy), EvalEvent(4, 0.4, dict(healthy, embedding_std=0.01))]


@pytest.mark.parametrize("task", ["mae", "simmim", "rotation", "simclr"])
def test_the_verdict_advises_fixes_of_the_tasks_own_family(task):
    verdict = VerdictJudge([task], history=_collapsed_history()).verdict()
    assert verdict.verdict == COLLAPSING
    contrastive_fixes = ("task with negatives", "predictor", "larger batch")
    if get_task(task).family == "contrastive":
        assert all(fix in verdict.message for fix in contrastive_fixes)
    else:
        assert not any(fix in verdict.message for fix in contrastive_fixes), verdict.message
    if get_task(task).family == "masked prediction":
        assert "mask ratio" in verdict.message


def test_a_task_of_an_unknown_family_is_refused():
    class Odd(PretextTask):
        family = "clustering"

        def training_step(self, images, augment, context=None):
            raise NotImplementedError

    with pytest.raises(TypeError, match="family must be one of"):
        register_task("odd_family_task")(Odd)
