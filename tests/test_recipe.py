"""A recipe for the data at hand (`workbench.engine.recipe`): the rules on a scan's facts, the steps from a speed
measured on this machine, `train --auto --budget`, and the Train page's "Suggest a recipe"."""
from __future__ import annotations

import json

import pytest
import yaml

from data_helpers import MONOCHROME1_CR, copy_dicom, write_rgb
from engine_helpers import tiny_dataset
from gui_helpers import write_class_folder
from test_cli import run_cli
from workbench.config import ConfigError, DataConfig
from workbench.data import scan_folder
from workbench.data.scan_summary import ScanSummary
from workbench.engine.events import WarningEvent
from workbench.engine.recipe import (EVALUATION_SHARE, IMAGE_SIZES, RECIPE_NAME, Choice, DataFacts, Recipe, apply_settings,
                                     fit_budget,
                                     image_size, misfits, plan, propose, suggest)
from workbench.engine.budget import parse_budget
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.tasks import default_config


def summary(images: int, width: int, height: int | None = None, channels: str = "1", classes: int = 0,
            volumes: int = 0) -> ScanSummary:
    """The scan summary of `images` images of one size, with `classes` labelled classes (or none)."""
    height = height or width
    labels = {f"class{index}": images // classes for index in range(classes)} if classes else None
    labelled = sum(labels.values()) if labels else 0
    return ScanSummary(root_name="data", readable=images, files=images, labels=labels, unlabelled=images - labelled,
                       skipped=[], volumes=volumes, width={"min": width, "median": width, "max": width},
                       height={"min": height, "median": height, "max": height}, channels={channels: images},
                       common_size={"width": width, "height": height, "images": images})


def settings_of(choices) -> dict:
    return {key: value for choice in choices for key, value in choice.settings.items()}


def reason_for(choices, key: str) -> str:
    return next(choice.reason for choice in choices if key in choice.settings)


DIGITS = DataFacts.of(summary(1797, 8, classes=10))
"""The digits set: 1,797 grayscale 8x8 images in 10 classes."""


# -- the rules, on a scan's facts -----------------------------------------------------------------------------
def test_a_few_thousand_digits_get_barlow_twins_at_16_px_without_flips():
    choices = plan(DIGITS, "cpu")
    settings = settings_of(choices)
    assert settings["tasks"] == {"barlow_twins": 1.0}
    assert "1,797 images: redundancy reduction (Barlow Twins)" in reason_for(choices, "tasks")
    assert "masked modelling" in reason_for(choices, "tasks")
    assert settings["data.image_size"] == 16
    assert "8x8: trained at 16 px" in reason_for(choices, "data.image_size")
    assert settings["augment.hflip_p"] == settings["augment.vflip_p"] == 0.0
    assert "digits" in reason_for(choices, "augment.hflip_p")
    assert settings["augment.rotation_degrees"] > 0 and settings["augment.crop_scale_min"] < 0.25
    assert settings["model.backbone"] == "small_cnn"


def test_too_few_images_for_barlow_twins_batches_get_simclr():
    choices = plan(DataFacts.of(summary(20, 32)), "cpu")
    assert settings_of(choices)["tasks"] == {"simclr": 1.0}
    assert "only 20 images" in reason_for(choices, "tasks")


@pytest.mark.parametrize("side", [5, 8, 16, 20, 28, 32, 33, 50, 64, 100, 300, 512])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_images_are_never_upsampled(side, device):
    size = image_size(side, device)
    assert size in IMAGE_SIZES
    assert size <= max(side, IMAGE_SIZES[0])  # only images below the smallest size are brought up to it
    assert size <= (64 if device == "cpu" else 224)
    choices = plan(DataFacts.of(summary(500, side, side + 7)), device)
    assert settings_of(choices)["data.image_size"] == size
    assert f"{side}x{side + 7}" in reason_for(choices, "data.image_size")


def test_the_shorter_side_decides_and_large_images_are_capped_on_a_cpu():
    facts = DataFacts.of(summary(5000, 640, 480, channels="3"))
    assert facts.side == 480
    assert settings_of(plan(facts, "cpu"))["data.image_size"] == 64
    on_gpu = settings_of(plan(facts, "cuda"))
    assert on_gpu["data.image_size"] == 224 and on_gpu["model.backbone"] == "resnet18"
    assert on_gpu["model.small_image_stem"] is False


def test_flips_are_off_for_dicom_and_the_reason_says_laterality(tmp_path):
    copy_dicom("CT_small.dcm", tmp_path / "ct.dcm")
    copy_dicom(MONOCHROME1_CR, tmp_path / "cr_without_extension")  # DICOM known by its content, not its name
    report = scan_folder(tmp_path, DataConfig(root=str(tmp_path))).report
    facts = DataFacts.of_report(report)
    assert facts.medical == facts.images == 2
    choices = plan(facts, "cpu")
    settings = settings_of(choices)
    assert settings["augment.hflip_p"] == settings["augment.vflip_p"] == 0.0
    assert "DICOM" in reason_for(choices, "augment.hflip_p") and "laterality" in reason_for(choices, "augment.hflip_p")


def test_settings_against_the_data_are_named_with_the_recipes_instead(tmp_path):
    digits = default_config()  # 64 px, horizontal flips
    [enlarged] = misfits(digits, DIGITS, "cpu")
    assert "typically 8x8 px" in enlarged.note and "data.image_size 64 enlarges them 8x" in enlarged.note
    assert "proposes 16 px" in enlarged.note
    assert (enlarged.fitting, enlarged.fix) == ({"data.image_size": 16}, "use 16 px")
    assert misfits(apply_settings(digits, enlarged.fitting), DIGITS, "cpu") == []
    digits.data.image_size = 16
    assert misfits(digits, DIGITS, "cpu") == []  # the smallest size: enlarged 2x, as the recipe itself does
    assert misfits(default_config(), DataFacts.of(summary(500, 40, channels="3")), "cpu") == []

    copy_dicom("CT_small.dcm", tmp_path / "ct.dcm")
    scans = DataFacts.of_report(scan_folder(tmp_path, DataConfig(root=str(tmp_path))).report)
    config = default_config()
    config.augment.vflip_p = 0.2
    [flipped] = misfits(config, scans, "cpu")
    assert "augment.hflip_p, augment.vflip_p" in flipped.note and "laterality" in flipped.note
    assert flipped.fitting == {"augment.hflip_p": 0.0, "augment.vflip_p": 0.0}
    assert misfits(apply_settings(config, flipped.fitting), scans, "cpu") == []
    config.augment.hflip_p = config.augment.vflip_p = 0.0
    assert misfits(config, scans, "cpu") == []


def test_a_run_that_enlarges_its_images_says_so_at_its_start(tmp_path):
    from engine_helpers import tiny_config

    data = tiny_dataset(tmp_path / "data", per_class=4, size=8)
    trainer = Trainer(tiny_config(data, tmp_path / "runs", data={"image_size": 64}, train={"steps": 2}))
    trainer.run()
    warnings = [event.message for event in RunFolder(trainer.run_dir).read_events()
                if isinstance(event, WarningEvent) and event.step == 0]
    assert any("data.image_size 64 enlarges them 8x" in warning for warning in warnings), warnings


def test_colour_photos_keep_horizontal_flips(tmp_path):
    for index in range(3):
        write_rgb(tmp_path / f"photo{index}.png", size=40, seed=index)
    facts = DataFacts.of_report(scan_folder(tmp_path, DataConfig(root=str(tmp_path))).report)
    assert facts.channels == 3 and facts.medical == 0
    assert settings_of(plan(facts, "cpu"))["augment.hflip_p"] == 0.5


def test_steps_grow_in_proportion_to_the_budget_and_checks_stay_within_their_share():
    free = [settings_of(fit_budget(budget, 1280.0, 0.0, 128, DIGITS))["train.steps"] for budget in (60, 120, 600)]
    assert free[1] == pytest.approx(2 * free[0], abs=1) and free[2] == pytest.approx(10 * free[0], abs=1)
    costly = [fit_budget(budget, 1280.0, 2.0, 128, DIGITS) for budget in (10, 60, 600)]
    steps = [settings_of(choices)["train.steps"] for choices in costly]
    assert steps[0] < steps[1] < steps[2]
    for budget, choices in zip((10, 60, 600), costly):
        every, total = settings_of(choices)["eval.every_steps"], settings_of(choices)["train.steps"]
        assert (total // every + 1) * 2.0 <= max(budget * EVALUATION_SHARE, 2 * 2.0)  # the checks, the first one too
        assert settings_of(choices)["train.warmup_steps"] < total
    assert "~10.0 steps/s" in reason_for(costly[2], "train.steps")  # 1,280 images/s at batch 128


def test_a_bad_budget_or_speed_is_refused():
    with pytest.raises(ValueError, match="budget"):
        fit_budget(0, 100.0, 0.0, 128, DIGITS)
    with pytest.raises(ValueError, match="measured"):
        fit_budget(60, 0.0, 0.0, 128, DIGITS)
    assert [parse_budget(text) for text in ("90s", "10m", "1h", "1.5h")] == [90, 600, 3600, 5400]
    for bad in ("10", "0m", "-1m", "ten minutes", "5d"):
        with pytest.raises(ValueError, match="e.g. 90s, 10m, 1h"):
            parse_budget(bad)
    for outside in ("5s", "25h"):  # the app's field takes the same range
        with pytest.raises(ValueError, match="must be from 6 s to 24 h"):
            parse_budget(outside)


def test_applying_a_recipe_sets_the_dotted_keys_and_keeps_a_tasks_own_settings():
    config = default_config()
    config.tasks = {"barlow_twins": config_task("barlow_twins", off_diagonal_weight=0.01), **config.tasks}
    recipe = propose(DIGITS, "cpu", 120, 1280.0, 0.5)
    applied = recipe.apply(config)
    assert list(applied.tasks) == ["barlow_twins"] and applied.tasks["barlow_twins"].off_diagonal_weight == 0.01
    assert applied.data.image_size == 16 and applied.augment.hflip_p == 0.0
    assert applied.train.steps == recipe.overrides["train.steps"] and config.train.steps == 400  # a copy
    with pytest.raises(ConfigError, match="train.batch_size"):
        Recipe((Choice({"train.batch_size": 1}, "too small"),)).apply(config)


def config_task(name: str, **settings):
    from workbench.tasks import get_task

    return get_task(name).Config(**settings)


# -- measured on this machine ---------------------------------------------------------------------------------
def test_suggest_times_real_steps_and_the_measured_steps_scale_with_the_budget(tmp_path):
    config = default_config()
    config.data.root = str(tiny_dataset(tmp_path / "d", per_class=10, size=32))
    config.train.device = "cpu"
    recipe = suggest(config, 60)
    measured = recipe.measured
    assert measured["device"] == "cpu" and measured["images_per_second"] > 0 and measured["evaluation_s"] > 0
    assert "measured" in reason_for(recipe.choices, "train.steps")
    facts = DataFacts.of_report(scan_folder(config.data.root, config.data).report)
    longer = propose(facts, "cpu", 600, measured["images_per_second"], measured["evaluation_s"])
    assert longer.overrides["train.steps"] > 9 * recipe.overrides["train.steps"]
    assert recipe.apply(config).data.image_size == 32  # 32 px images stay at 32 px


# -- the command line -----------------------------------------------------------------------------------------
def test_train_auto_prints_the_recipe_writes_it_into_the_run_and_trains(tmp_path):
    data = tiny_dataset(tmp_path / "d", per_class=10, size=32)
    run_dir = tmp_path / "run"
    result = run_cli("train", "--auto", "--budget", "6s", "--data", data, "--out", run_dir)
    assert result.returncode == 0, result.stderr
    assert "Recipe (6 s):" in result.stdout and "redundancy reduction (Barlow Twins)" in result.stdout
    assert "Finished at step" in result.stdout
    recipe = Recipe.read(run_dir / RECIPE_NAME)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert list(saved["tasks"]) == ["barlow_twins"]
    assert saved["train"]["steps"] == recipe.overrides["train.steps"]
    assert saved["data"]["image_size"] == 32 and saved["augment"]["hflip_p"] == 0.0
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1]["event"] == "FinishedEvent" and steps[-1]["step"] == recipe.overrides["train.steps"]


def test_train_auto_refuses_a_budget_without_a_unit_and_a_budget_without_auto(tmp_path):
    result = run_cli("train", "--auto", "--budget", "10")
    assert result.returncode == 2 and "e.g. 90s, 10m, 1h" in result.stderr
    result = run_cli("train", "--budget", "10m", "--out", tmp_path / "run")
    assert result.returncode == 2 and "--budget goes with --auto" in result.stderr
    assert not (tmp_path / "run").exists()


# -- the Train page -------------------------------------------------------------------------------------------
def test_suggest_a_recipe_in_the_app_refuses_bad_budgets_and_apply_sets_the_forms(window, qtbot, tmp_path):
    config = window.current_config()
    config.data.root = str(write_class_folder(tmp_path / "images", per_class=10, size=24))
    config.train.device = "cpu"
    window.apply_config(config, rescan=False)
    window.dataset_panel.scan()
    qtbot.waitUntil(lambda: window.dataset_panel.scan_result is not None, timeout=30_000)
    window.show_step("Train & monitor")
    box = window.train_panel.recipe_box
    for refused in ("0", "2000", "ten"):
        box.budget_edit.setText(refused)
        assert not box.suggest_button.isEnabled() and box.note.isVisible()
        assert "Time budget: must" in box.note.text() and box.budget_edit.text() == refused  # kept as typed
    box.budget_edit.setText("0.5")
    assert box.suggest_button.isEnabled() and not box.budget_problem()
    box.suggest_button.click()
    qtbot.waitUntil(lambda: box.apply_button.isVisible(), timeout=120_000)
    assert "For images, 30 s on this cpu" in box.proposal.text()
    assert "redundancy reduction" in box.proposal.text() and "24x24" in box.proposal.text()
    box.grab().save(str(tmp_path / "recipe_box.png"))
    box.apply_button.click()
    shown = window.current_config()
    wanted = box.recipe.overrides
    assert list(shown.tasks) == ["barlow_twins"]
    assert shown.data.image_size == wanted["data.image_size"] == 24
    assert shown.train.steps == wanted["train.steps"] and shown.eval.every_steps == wanted["eval.every_steps"]
    assert shown.augment.hflip_p == 0.0 and shown.model.backbone == "small_cnn"
    assert window.train_panel.train_form.values().steps == wanted["train.steps"]
    assert window.validate() == []
