"""The built-in pretext tasks and their losses, run for real on tiny batches."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from workbench.config import ModelConfig, field_info
from workbench.models import create_backbone
from workbench.tasks import get_task, registered_tasks
from workbench.tasks.byol import cosine_momentum, ema_update
from workbench.tasks.losses import negative_cosine_loss, nt_xent_loss, pair_cosines
from workbench.tasks.rotation import rotate_quarters

SIZE = 16


def random_view(images: torch.Tensor) -> torch.Tensor:
    """A stand-in augmentation: the image as float plus fresh noise, so two calls differ."""
    return images.float() / 255 + 0.1 * torch.randn(images.shape)


def make_task(name: str, **settings):
    torch.manual_seed(0)
    encoder = create_backbone(ModelConfig(backbone="small_cnn"), 1, SIZE)
    task_class = get_task(name)
    return task_class(task_class.Config(**settings), encoder, encoder.embed_dim)


def uint8_batch(batch: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (batch, 1, SIZE, SIZE), dtype=torch.uint8)


def test_all_builtin_tasks_are_registered():
    assert {"simclr", "byol", "rotation"} <= set(registered_tasks())


@pytest.mark.parametrize("name", ["simclr", "byol", "rotation"])
def test_task_is_described_and_every_setting_has_help(name):
    task_class = get_task(name)
    assert task_class.description and len(task_class.__doc__) > 200
    for field in dataclasses.fields(task_class.Config):
        assert field_info(field)["help"], f"{name}.{field.name} has no help text"


@pytest.mark.parametrize("name,settings", [("simclr", {}), ("byol", {}), ("rotation", {}),
                                           ("rotation", {"all_rotations": True, "classifier_hidden_dim": 16})])
def test_training_step_outputs_and_gradient_reaches_encoder(name, settings):
    task = make_task(name, **settings)
    output = task.training_step(uint8_batch(8), random_view)
    assert output.loss.ndim == 0 and torch.isfinite(output.loss)
    assert output.embeddings.shape == (8, task.embed_dim) and not output.embeddings.requires_grad
    assert output.per_sample_loss.shape == (8,) and not output.per_sample_loss.requires_grad
    torch.testing.assert_close(output.per_sample_loss.mean(), output.loss.detach())
    assert output.metrics and all(v.ndim == 0 and not v.requires_grad for v in output.metrics.values())
    output.loss.backward()
    first_conv = task.encoder.body[0][0].weight
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0


def _nt_xent_by_loops(z1, z2, temperature):
    """NT-Xent written out one anchor at a time, straight from the SimCLR paper."""
    views = [F.normalize(v, dim=0) for v in list(z1) + list(z2)]
    batch, count = len(z1), 2 * len(z1)
    losses = []
    for i in range(count):
        partner = (i + batch) % count
        logits = {j: float(views[i] @ views[j]) / temperature for j in range(count) if j != i}
        denominator = sum(math.exp(value) for value in logits.values())
        losses.append(-math.log(math.exp(logits[partner]) / denominator))
    per_sample = [(losses[i] + losses[i + batch]) / 2 for i in range(batch)]
    return sum(per_sample) / batch, per_sample


def test_nt_xent_matches_a_loop_computation():
    generator = torch.Generator().manual_seed(7)
    z1, z2 = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    loss, per_sample = nt_xent_loss(z1, z2, temperature=0.3)
    expected_loss, expected_per_sample = _nt_xent_by_loops(z1.double(), z2.double(), 0.3)
    assert loss.item() == pytest.approx(expected_loss, abs=1e-5)
    torch.testing.assert_close(per_sample, torch.tensor(expected_per_sample, dtype=torch.float32),
                               atol=1e-5, rtol=0)


def test_nt_xent_is_low_when_views_match_and_computes_in_float32():
    z = torch.eye(8)
    matched, _ = nt_xent_loss(z, z, temperature=0.1)
    shuffled, _ = nt_xent_loss(z, z.roll(1, dims=0), temperature=0.1)
    assert matched < 0.01 < shuffled
    half, _ = nt_xent_loss(z.bfloat16(), z.bfloat16(), temperature=0.1)
    assert half.dtype == torch.float32


def test_pair_cosines_match_the_full_matrix():
    z1, z2 = torch.randn(5, 4), torch.randn(5, 4)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    cosines = z @ z.T
    positive_mask = torch.zeros(10, 10, dtype=torch.bool)
    positive_mask[torch.arange(5), torch.arange(5, 10)] = True
    positive_mask[torch.arange(5, 10), torch.arange(5)] = True
    negative_mask = ~positive_mask & ~torch.eye(10, dtype=torch.bool)
    positive, negative = pair_cosines(z1, z2)
    torch.testing.assert_close(positive, cosines[positive_mask].mean())
    torch.testing.assert_close(negative, cosines[negative_mask].mean())


def test_negative_cosine_loss_range():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    torch.testing.assert_close(negative_cosine_loss(a, b), torch.tensor([0.0, 2.0, 4.0]))


def test_cosine_momentum_schedule():
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 50, 100) == pytest.approx(0.995)
    assert cosine_momentum(0.99, 100, 100) == pytest.approx(1.0)


def test_ema_update_follows_the_formula_exactly():
    target, online = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with torch.no_grad():
        target.weight.copy_(torch.tensor([[1.0, 2.0], [-4.0, 0.0]]))
        online.weight.copy_(torch.tensor([[3.0, 6.0], [4.0, 8.0]]))
        target.bias.fill_(0.5)
        online.bias.fill_(2.5)
    ema_update(target, online, momentum=0.75)
    # 0.75 * target + 0.25 * online, with values exact in binary floating point
    assert torch.equal(target.weight, torch.tensor([[1.5, 3.0], [-2.0, 2.0]]))
    assert torch.equal(target.bias, torch.tensor([1.0, 1.0]))


def test_byol_target_is_checkpointed_but_not_trained_and_follows_the_ema():
    task = make_task("byol", momentum_base=0.9)
    targets = [follower for follower, _ in task.momentum_pairs()]
    assert targets == [task.target_encoder, task.target_projector]
    assert all(not p.requires_grad for module in targets for p in module.parameters())
    trainable = {id(p) for p in task.parameters() if p.requires_grad}
    assert not trainable & {id(p) for module in targets for p in module.parameters()}
    assert any(key.startswith("target_encoder.") for key in task.state_dict())

    optimiser = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.1)
    task.training_step(uint8_batch(8), random_view).loss.backward()
    optimiser.step()
    before = task.target_encoder.body[0][0].weight.clone()
    online = task.encoder.body[0][0].weight.detach().clone()
    task.on_step_end(1, 10)
    momentum = cosine_momentum(0.9, 1, 10)
    torch.testing.assert_close(task.target_encoder.body[0][0].weight, momentum * before + (1 - momentum) * online,
                               atol=1e-7, rtol=0)
    assert task.momentum == momentum


def test_rotate_quarters_turns_each_image_by_its_own_amount():
    images = torch.arange(2 * 9, dtype=torch.float32).view(2, 1, 3, 3)
    turned = rotate_quarters(images, torch.tensor([1, 2]))
    assert torch.equal(turned[0], torch.rot90(images[0], 1, dims=(1, 2)))
    assert torch.equal(turned[1], torch.rot90(images[1], 2, dims=(1, 2)))
    with pytest.raises(ValueError, match="square"):
        rotate_quarters(torch.zeros(1, 1, 3, 4), torch.tensor([0]))


def test_rotation_task_learns_an_obvious_orientation():
    """Images whose top half is bright: rotation is easy to tell, accuracy must climb well above chance."""
    task = make_task("rotation")
    images = torch.zeros(32, 1, SIZE, SIZE, dtype=torch.uint8)
    images[:, :, : SIZE // 2] = 255
    optimiser = torch.optim.Adam(task.parameters(), lr=3e-3)
    for _ in range(30):
        output = task.training_step(images, random_view)
        optimiser.zero_grad()
        output.loss.backward()
        optimiser.step()
    assert output.metrics["rotation_accuracy"] > 0.6
