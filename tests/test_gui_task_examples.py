"""What the model sees: a real inpainting run in the window writes its example sheets at each evaluation,
and the Train & monitor step shows them; the Pretext tasks step previews the chosen tasks before training;
the map projection offers only installed methods."""
from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from gui_helpers import tiny_settings, write_class_folder  # noqa: E402
from workbench.engine.task_examples import EXAMPLES_NAME  # noqa: E402
from workbench.metrics.projection import MAP_METHODS, available_map_methods  # noqa: E402
from workbench.tasks.jigsaw import JigsawConfig  # noqa: E402
from workbench.tasks.reconstruction import ReconstructionConfig  # noqa: E402
from workbench.tasks.simclr import SimCLRConfig  # noqa: E402

pytestmark = pytest.mark.slow


def test_an_inpainting_run_shows_input_corrupted_input_and_reconstruction(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "images", per_class=3)
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))
    tiny_settings(window, tmp_path / "runs", steps=6)
    config = window.current_config()
    config.tasks = {"reconstruction": ReconstructionConfig(mode="inpaint")}
    window.apply_config(config, rescan=False)
    train = window.train_panel
    view = train.examples_view
    assert view.image_count() == 0
    with qtbot.waitSignal(train.run_ended, timeout=60000) as ended:
        window.start_training()
    index = json.loads(open(os.path.join(ended.args[0], EXAMPLES_NAME), encoding="utf-8").read())
    assert index["step"] == 6
    entry = index["tasks"]["reconstruction"]
    assert entry["panels"] == ["input", "corrupted", "reconstruction"] and entry["rows"] == 4
    sheet = Image.open(os.path.join(ended.args[0], entry["sheet"]))
    assert sheet.size == (3 * 32 + 2 * entry["gap"], 4 * 32 + 3 * entry["gap"])

    train.tabs.setCurrentWidget(view)
    qtbot.waitUntil(view.isVisible)
    assert view.index["step"] == 6 and view.image_count() == 12
    rows = view.images["reconstruction"]
    assert all(image.width() == image.height() == 32 for row in rows for image in row)
    clean, corrupted, _answer = rows[0]
    assert clean != corrupted  # holes were cut
    assert "Step 6" in view.caption.text()
    shown = view.findChild(type(view.caption), "taskExample.reconstruction.0.2")
    assert shown is not None and shown.pixmap().width() >= 32

    window.show_step("Runs")  # the finished run shows the same examples in the run list
    runs = window.runs_panel
    runs.tabs.setCurrentWidget(runs.examples_view)
    qtbot.waitUntil(lambda: not runs.loading() and runs.select_run(ended.args[0]), timeout=10000)
    assert runs.examples_view.index["step"] == 6 and runs.examples_view.image_count() == 12


def test_the_map_projection_offers_only_installed_methods(window):
    combo = window.train_panel.eval_form.editor("map_method")
    installed = available_map_methods()
    assert "pca" in installed
    for method in MAP_METHODS:
        enabled = combo.model().item(combo.findData(method)).isEnabled()
        assert enabled == (method in installed)
        assert combo.itemText(combo.findData(method)).endswith("(not installed)") != enabled


def test_the_tasks_step_previews_what_the_chosen_tasks_give_an_untrained_model(qtbot, window, tmp_path):
    folder = write_class_folder(tmp_path / "images", per_class=2)
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        window.open_dataset(str(folder))
    tiny_settings(window, tmp_path / "runs")
    qtbot.waitUntil(lambda: window.augment_panel.dataset is not None, timeout=30000)
    config = window.current_config()
    config.tasks = {"jigsaw": JigsawConfig(), "simclr": SimCLRConfig()}
    window.apply_config(config, rescan=False)
    window.show_step("Pretext tasks")
    tasks = window.tasks_panel
    preview = tasks.preview
    qtbot.waitUntil(lambda: "jigsaw" in preview.images, timeout=30000)
    assert list(preview.images) == ["jigsaw"]  # SimCLR has no image output
    assert preview.panels["jigsaw"] == ["input", "shuffled", "solved"]
    assert len(preview.images["jigsaw"]) == 2 and "Before training" in preview.caption.text()

    tasks.cards["mae"].checkbox.setChecked(True)  # MAE needs a ViT: the preview says so
    qtbot.waitUntil(lambda: "MAE needs a ViT backbone" in preview.caption.text(), timeout=30000)
    assert preview.image_count() == 0
    qtbot.waitUntil(lambda: not tasks.preview_busy(), timeout=10000)
