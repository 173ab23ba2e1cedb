"""Forms generated from the config dataclasses: round trips, bounds, and problems shown at the field."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtWidgets import QComboBox, QLineEdit  # noqa: E402

from workbench.config import AugmentConfig, ConfigError, DataConfig, TrainConfig  # noqa: E402
from workbench.gui.forms import ConfigForm, NumberEdit  # noqa: E402
from workbench.tasks import default_config, get_task, validate_config  # noqa: E402


def test_editor_kinds_follow_field_types_and_bounds(qtbot):
    form = ConfigForm(TrainConfig, "train")
    qtbot.addWidget(form)
    batch = form.editor("batch_size")
    assert isinstance(batch, NumberEdit) and (batch.kind, batch.minimum, batch.maximum) == (int, 2, 65536)
    assert batch.placeholderText() == "between 2 and 65,536"
    assert isinstance(form.editor("lr"), NumberEdit) and form.editor("lr").kind is float
    assert isinstance(form.editor("optimizer"), QComboBox)
    assert batch.toolTip().startswith("Images per step")
    assert batch.accessibleName() == "Batch size"
    data_form = ConfigForm(DataConfig, "data")
    qtbot.addWidget(data_form)
    assert isinstance(data_form.editor("root"), QLineEdit)
    assert data_form.findChild(object, "data.root.browse") is not None
    assert "threads" not in [n for n in form.field_names() if form.editor(n).isVisibleTo(form)]


def test_round_trip_of_every_section(qtbot):
    train = TrainConfig(steps=1234, batch_size=48, optimizer="sgd", lr=3e-5, warmup_steps=7, device="cpu",
                        threads=3)
    form = ConfigForm(TrainConfig, "train")
    qtbot.addWidget(form)
    form.set_values(train)
    assert form.values() == train

    task_class = get_task("simclr")
    task = task_class.Config(weight=2.5, temperature=0.35, projector_out_dim=64)
    task_form = ConfigForm(task_class.Config, "tasks.simclr")
    qtbot.addWidget(task_form)
    task_form.set_values(task)
    assert task_form.values() == task

    data = DataConfig(root="/tmp/images", image_size=48, channels=3, dicom_window="manual", window_center=-600.0,
                      window_width=1500.0)
    data_form = ConfigForm(DataConfig, "data")
    qtbot.addWidget(data_form)
    data_form.set_values(data)
    assert data_form.values() == data


def test_typing_into_editors_changes_values(qtbot):
    form = ConfigForm(AugmentConfig, "augment")
    qtbot.addWidget(form)
    changes = []
    form.changed.connect(lambda: changes.append(1))
    hflip = form.editor("hflip_p")
    hflip.selectAll()
    qtbot.keyClicks(hflip, "0.25")
    assert form.values().hflip_p == 0.25
    assert changes
    edit = NumberEdit(float, 1e-7, 10.0)
    qtbot.addWidget(edit)
    edit.setValue(2e-3)
    assert edit.text() == "0.002"
    edit.setText("1e-5")
    assert edit.value() == 1e-5
    edit.setValue(1e-5)
    assert edit.text() == "1e-5"  # text that already reads as the value is left as typed


def test_invalid_value_is_shown_at_its_field_and_cleared_when_fixed(qtbot):
    form = ConfigForm(AugmentConfig, "augment")
    qtbot.addWidget(form)
    form.show()
    form.editor("crop_scale_min").setValue(0.9)
    form.editor("crop_scale_max").setValue(0.5)
    config = default_config()
    config.augment = form.values()
    try:
        validate_config(config)
        raise AssertionError("crop_scale_min > crop_scale_max must be rejected")
    except ConfigError as error:
        elsewhere = form.show_problems(error.problems)
    assert elsewhere == []
    assert "crop_scale_max" in form.problem_at("crop_scale_min")
    assert form.editor("crop_scale_min").property("invalid") is True
    assert form.findChild(object, "augment.crop_scale_min.error").isVisible()
    assert form.problem_at("hflip_p") == ""

    form.editor("crop_scale_min").setValue(0.3)
    config.augment = form.values()
    validate_config(config)
    form.show_problems([])
    assert form.problem_at("crop_scale_min") == ""
    assert not form.editor("crop_scale_min").property("invalid")


def test_problems_of_other_sections_are_passed_on(qtbot):
    form = ConfigForm(TrainConfig, "train", fields=("steps", "batch_size"))
    qtbot.addWidget(form)
    rest = form.show_problems([("train.batch_size", "must be >= 2, got 1"), ("augment.hue", "too big"),
                               ("train.lr", "not in this form")])
    assert rest == [("augment.hue", "too big"), ("train.lr", "not in this form")]
    assert form.problem_at("batch_size") == "Must be >= 2, got 1"
    assert form.problem_at("steps") == ""


def test_a_form_edits_over_the_config_it_was_given(qtbot):
    form = ConfigForm(DataConfig, "data", fields=("image_size",))
    qtbot.addWidget(form)
    loaded = DataConfig(image_size=96, slices_per_volume=33333, min_foreground=0.37, context_slices=2)
    form.set_values(loaded)
    assert form.values() == loaded
    form.editor("image_size").setText("128")
    assert form.values() == DataConfig(image_size=128, slices_per_volume=33333, min_foreground=0.37,
                                       context_slices=2)


def test_a_field_name_that_is_not_a_setting_is_an_error(qtbot):
    with pytest.raises(ValueError, match="no field slices"):
        ConfigForm(DataConfig, "data", fields=("image_size", "slices"))
    with pytest.raises(ValueError, match="no field gone"):
        ConfigForm(DataConfig, "data", exclude=("gone",))
