"""Next-patch prediction: its loss against a plain loop, no view of the target, a real short run, its examples."""
from __future__ import annotations

import pytest
import torch

from engine_helpers import tiny_config, tiny_dataset
from workbench.config import ModelConfig
from workbench.engine.events import EvalEvent, StepEvent
from workbench.engine.inspection import left_as_found
from workbench.engine.trainer import Trainer
from workbench.models import create_backbone
from workbench.tasks import get_task, registered_tasks
from workbench.tasks.autoregressive import NextPatch, next_patch_loss, prefix_causal_mask
from workbench.tasks.display import RendersExamples

PATCH = 8
SIDE = 32
SMALL_HEAD = {"head_dim": 32, "head_heads": 2}


def make_task(backbone: str = "small_cnn", seed: int = 0, **settings) -> NextPatch:
    torch.manual_seed(seed)
    encoder = create_backbone(ModelConfig(backbone=backbone, patch_size=PATCH), 1, SIDE)
    task_class = get_task("next_patch")
    return task_class(task_class.Config(**{**SMALL_HEAD, **settings}), encoder, encoder.embed_dim)


def as_float(images: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in augmentation: the image as float."""
    return images.float() / 255


def fixed_images(batch: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (batch, 1, SIDE, SIDE), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def loop_patch(view: torch.Tensor, image: int, index: int, normalized: bool) -> list[float]:
    """Patch `index` (raster order) of one image, cut by slicing, normalised by hand."""
    cols = SIDE // PATCH
    row, col = divmod(index, cols)
    pixels = view[image, :, row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH].reshape(-1).tolist()
    if not normalized:
        return pixels
    mean = sum(pixels) / len(pixels)
    std = (sum((p - mean) ** 2 for p in pixels) / len(pixels) + 1e-6) ** 0.5
    return [(p - mean) / std for p in pixels]


def loop_mse(a: list[float], b: list[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)


def test_next_patch_is_registered_and_described():
    assert registered_tasks()["next_patch"] is NextPatch
    assert "iGPT" in NextPatch.__doc__ and "AIM" in NextPatch.__doc__ and NextPatch.description


def test_loss_counts_only_the_patches_after_each_prefix():
    generator = torch.Generator().manual_seed(4)
    guesses, targets = torch.randn(3, 5, 6, generator=generator), torch.randn(3, 6, 6, generator=generator)
    prefix = torch.tensor([1, 3, 5])
    expected = []
    for b in range(3):
        errors = [loop_mse(guesses[b, t - 1].tolist(), targets[b, t].tolist()) for t in range(int(prefix[b]), 6)]
        expected.append(sum(errors) / len(errors))
    torch.testing.assert_close(next_patch_loss(guesses, targets, prefix), torch.tensor(expected))


@pytest.mark.parametrize("normalized", [True, False])
def test_training_step_loss_and_copy_baseline_match_a_plain_loop(normalized):
    task = make_task(normalized_target=normalized, prefix_attention=False)
    images = fixed_images(3)
    view = as_float(images)
    with torch.no_grad():
        guesses, _ = task.predict(view, torch.ones(3, dtype=torch.long))
        output = task.training_step(images, as_float)
    count = (SIDE // PATCH) ** 2
    per_image, copy_previous = [], []
    for b in range(3):
        patches = [loop_patch(view, b, t, normalized) for t in range(count)]
        per_image.append(sum(loop_mse(guesses[b, t - 1].tolist(), patches[t]) for t in range(1, count)) / (count - 1))
        copy_previous.append(sum(loop_mse(patches[t - 1], patches[t]) for t in range(1, count)) / (count - 1))
    torch.testing.assert_close(output.per_sample_loss, torch.tensor(per_image), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(output.loss, torch.tensor(per_image).mean(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(output.metrics["copy_previous_mse"], torch.tensor(copy_previous).mean(),
                               atol=1e-5, rtol=1e-5)


def test_prefix_mask_is_causal_after_the_prefix_and_open_within_it():
    mask = prefix_causal_mask(4, torch.tensor([1, 3]))
    assert mask[0].tolist() == [[False, True, True, True], [False, False, True, True],
                                [False, False, False, True], [False, False, False, False]]
    assert mask[1].tolist() == [[False, False, False, True], [False, False, False, True],
                                [False, False, False, True], [False, False, False, False]]


def test_vit_with_a_causal_mask_gives_each_patch_what_a_run_without_the_later_patches_gives():
    torch.manual_seed(0)
    encoder = create_backbone(ModelConfig(backbone="vit_tiny", patch_size=PATCH), 1, SIDE).eval()
    images = torch.randn(2, 1, SIDE, SIDE)
    prefix = torch.tensor([1, 3]) + 1  # + 1: the class token
    with torch.no_grad():
        causal = encoder.tokens(images, attn_mask=prefix_causal_mask(17, prefix))
        for t in (2, 6, 15):
            shorter = encoder.tokens(images, keep=torch.arange(t + 1).expand(2, t + 1),
                                     attn_mask=prefix_causal_mask(t + 2, prefix))
            torch.testing.assert_close(causal[:, :t + 2], shorter, atol=1e-5, rtol=1e-5)
        assert (encoder.tokens(images)[:, 1] - causal[:, 1]).abs().max() > 1e-2  # the mask does limit attention


@pytest.mark.parametrize("backbone", ["small_cnn", "vit_tiny"])
def test_changing_later_patches_leaves_earlier_guesses_unchanged(backbone):
    """Guesses for patches 1..c must not move when patches c.. change (in training mode, BatchNorm included)."""
    task = make_task(backbone)
    view = torch.randn(4, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(2))
    first_changed = 9  # patch (2, 1) of the 4 x 4 grid
    prefix = torch.tensor([1, 4, 9, 9])  # no prefix reaches past the first changed patch
    changed = view.clone()
    rows = first_changed // (SIDE // PATCH)
    changed[:, :, rows * PATCH:] = torch.randn(4, 1, SIDE - rows * PATCH, SIDE)  # rows 2..3 of patches
    changed[:, :, rows * PATCH:(rows + 1) * PATCH, :PATCH] = view[:, :, rows * PATCH:(rows + 1) * PATCH, :PATCH]
    with torch.no_grad():
        before, _ = task.predict(view, prefix)
        after, _ = task.predict(changed, prefix)
    torch.testing.assert_close(after[:, :first_changed], before[:, :first_changed], atol=1e-6, rtol=1e-6)
    assert (after[:, first_changed:] - before[:, first_changed:]).abs().max() > 1e-3  # the test can see change


@pytest.mark.parametrize("backbone,lr", [("small_cnn", 2e-3), ("vit_tiny", 2e-4)])
def test_short_training_run_lowers_the_loss_and_keeps_embeddings_spread(tmp_path, backbone, lr):
    data = tiny_dataset(tmp_path / "data", per_class=4)
    config = tiny_config(data, tmp_path / "runs", tasks={"next_patch": SMALL_HEAD},
                         model={"backbone": backbone, "patch_size": PATCH},
                         train={"steps": 10, "log_every": 1, "warmup_steps": 0, "lr": lr, "threads": 1},
                         eval={"every_steps": 5},
                         augment={"crop_scale_min": 0.8, "color_jitter_p": 0.0, "blur_p": 0.0, "grayscale_p": 0.0})
    events = []
    assert type(Trainer(config).run(events.append)).__name__ == "FinishedEvent"
    losses = [e.values["loss"] for e in events if isinstance(e, StepEvent)]
    cosines = [e.values["next_patch/target_cosine"] for e in events if isinstance(e, StepEvent)]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    assert sum(cosines[-3:]) / 3 > sum(cosines[:3]) / 3, cosines
    assert [e.values["embedding_std"] for e in events if isinstance(e, EvalEvent)][-1] > 0.15


@pytest.mark.parametrize("backbone", ["small_cnn", "vit_tiny"])
def test_render_example_shows_input_guesses_and_error_without_changing_the_task(backbone):
    task = make_task(backbone)
    assert isinstance(task, RendersExamples)
    before = {key: value.clone() for key, value in task.state_dict().items()}
    images = fixed_images(2)
    with left_as_found(task, seed=0):  # as the engine calls it: evaluation mode, restored afterwards
        examples = task.render_example(images, as_float)
    assert list(examples) == ["input", "predicted", "error"]
    for image in examples.values():
        assert image.shape == (2, 1, SIDE, SIDE) and 0 <= image.min() and image.max() <= 1
    assert examples["error"][:, :, :PATCH, :PATCH].max() == 0  # patch 0 is never guessed: shown as it is
    assert all(torch.equal(value, before[key]) for key, value in task.state_dict().items())
    assert task.training


def test_settings_that_cannot_work_are_named():
    with pytest.raises(ValueError, match="next_patch.head_dim"):
        make_task(head_dim=30, head_heads=3)
    task = make_task(cnn_patch_size=12)
    with pytest.raises(ValueError, match="next_patch.cnn_patch_size"):
        task.training_step(fixed_images(2), as_float)
