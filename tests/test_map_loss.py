"""Each mapped image's pretext loss: written by a real run, computed without touching training, and shown
by the map's 'Colour by: pretext loss'."""
from __future__ import annotations

import math
import os
from dataclasses import replace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from workbench.config import ConfigError, DataConfig, TaskConfig  # noqa: E402
from workbench.config.extras import MAP_METHOD_PACKAGES, installed  # noqa: E402
from workbench.engine.embedding_map import MAP_NAME, EmbeddingMap  # noqa: E402
from workbench.engine.inspection import per_image_losses  # noqa: E402
from workbench.engine.model import MultiTaskModel  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.tasks import PretextTask, TaskOutput, config_from_dict, register_task  # noqa: E402


@register_task("test_whole_batch_loss")
class WholeBatchLoss(PretextTask):
    """Test task: a loss of the batch as a whole (embedding variance), with no loss per image."""

    description = "test only"

    class Config(TaskConfig):
        pass

    def training_step(self, images, augment, context=None):
        embeddings = self.encoder(augment(images))
        return TaskOutput(loss=(1 - embeddings.var(dim=0)).square().mean(), embeddings=embeddings.detach())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("data"), per_class=4)


def run(config) -> EmbeddingMap:
    final = Trainer(config).run()
    assert not hasattr(final, "message"), getattr(final, "message", "")
    return EmbeddingMap.read(os.path.join(final.run_dir, MAP_NAME))


@pytest.fixture(scope="module")
def trained_map(data_root, tmp_path_factory):
    """The map of a real run of two tasks that both report a loss per image."""
    config = tiny_config(data_root, tmp_path_factory.mktemp("runs"), tasks={"simclr": {}, "rotation": {}},
                         train={"steps": 4}, eval={"subset_size": 16})
    return run(config)


def test_a_training_run_writes_one_finite_loss_per_mapped_image(trained_map):
    losses = trained_map.loss
    assert trained_map.method == "pca" and trained_map.step == 4
    assert len(losses) == len(trained_map.points) == 16
    assert all(math.isfinite(value) and value > 0 for value in losses)
    assert len(set(losses)) > 1  # images differ in how hard their puzzle is


def test_a_run_whose_tasks_give_no_loss_per_image_writes_null(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path, tasks={"test_whole_batch_loss": {}}, train={"steps": 2},
                         eval={"subset_size": 12, "every_steps": 2})
    written = run(config)
    assert written.loss is None and len(written.points) == 12


def test_per_image_losses_leave_the_model_and_random_stream_as_found(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path, tasks={"moco": {"queue_size": 32}, "dino": {}})
    torch.manual_seed(0)
    model = MultiTaskModel(config, in_channels=1).train()
    images = torch.randint(0, 256, (10, 1, 32, 32), dtype=torch.uint8)
    buffers = [buffer.clone() for buffer in model.buffers()]
    rng = torch.get_rng_state()

    def augment(batch):
        return batch.float() / 255 + 0.05 * torch.randn(batch.shape)  # draws from the (seeded) global stream

    rows = torch.tensor([3, 1, 4, 0, 5, 9, 2])
    first = per_image_losses(model, images, rows, augment, batch_size=3, seed=5)
    again = per_image_losses(model, images, rows, augment, batch_size=3, seed=5)
    assert first.shape == (7,) and torch.isfinite(first).all()
    assert torch.equal(first, again)  # the same seed, the same losses
    assert model.training and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before, after) for before, after in zip(buffers, model.buffers()))  # queue, centre


def test_the_map_colours_dots_by_loss_and_shows_the_loss_on_hover(qtbot, trained_map, data_root, tmp_path):
    from workbench.gui.embedding import EmbeddingView

    path = tmp_path / MAP_NAME
    trained_map.write(path)
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.resize(700, 450)
    view.show()
    assert view.show_map(path, DataConfig(root=str(data_root)))
    by_label = view.point_colours()
    assert view.colouring() == "label" and len(set(by_label)) == 4  # one colour per class
    view.set_colouring("loss")
    by_loss = view.point_colours()
    assert view.colouring() == "loss" and by_loss != by_label
    losses = trained_map.loss
    hardest, easiest = losses.index(max(losses)), losses.index(min(losses))
    assert by_loss[hardest] != by_loss[easiest] and len(set(by_loss)) > 4
    assert view.loss_scale.isVisible() and (view.loss_scale.low, view.loss_scale.high) == (min(losses), max(losses))
    qtbot.mouseMove(view.plot.viewport(), view.point_position(hardest))
    qtbot.waitUntil(lambda: view.hovered is not None, timeout=5000)
    assert f"pretext loss {losses[view.hovered]:.4g}" in view.hover_text()
    assert "pretext loss" in view.preview.text()
    view.set_colouring("label")
    assert view.point_colours() == by_label and not view.loss_scale.isVisible()
    view.shutdown()


def test_a_map_without_losses_offers_only_label_colours(qtbot, trained_map, data_root, tmp_path):
    from workbench.gui.embedding import EmbeddingView

    path = tmp_path / MAP_NAME
    replace(trained_map, loss=None).write(path)
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.show()
    view.set_colouring("loss")
    assert view.show_map(path, DataConfig(root=str(data_root)))
    assert view.colouring() == "label" and not view.loss_scale.isVisible()
    choice = view.colour_choice
    assert not choice.model().item(choice.findData("loss")).isEnabled()
    view.shutdown()


@pytest.mark.parametrize("method", sorted(MAP_METHOD_PACKAGES))
def test_a_map_method_needs_its_package_and_says_how_to_install_it(method, data_root, tmp_path):
    module, package = MAP_METHOD_PACKAGES[method]
    data = {"data": {"root": str(data_root)}, "tasks": {"simclr": {}}, "eval": {"map_method": method}}
    if installed(module):
        assert config_from_dict(data).eval.map_method == method
    else:
        with pytest.raises(ConfigError) as error:
            config_from_dict(data)
        assert str(error.value) == (f"eval.map_method: {method} needs the '{package}' package: "
                                    "pip install 'pretext-workbench[maps]'")
