"""Configuration: defaults load, bad values are rejected with the field path, YAML round-trips."""
import os

import pytest
import yaml

from workbench.config import ConfigError, RunConfig, dump_yaml, field_info, save_config, to_dict
from workbench.tasks import config_from_dict, default_config, load_config


def problems_of(data):
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    return dict(caught.value.problems), str(caught.value)


def test_default_config_round_trips_through_yaml(tmp_path):
    config = default_config()
    save_config(config, tmp_path / "c.yaml")
    loaded = load_config(tmp_path / "c.yaml")
    assert loaded.output.out_dir == os.path.abspath(config.output.out_dir)  # loaded paths are absolute
    loaded.output.out_dir = config.output.out_dir
    assert loaded == config


def test_commented_yaml_parses_back_to_the_defaults():
    config = default_config()
    text = dump_yaml(config, comments=True)
    assert "# Images are resized to this square size" in text
    assert config_from_dict(yaml.safe_load(text)) == config


def test_bad_value_names_field_and_range():
    data = to_dict(default_config())
    data["train"]["batch_size"] = 0
    problems, message = problems_of(data)
    assert problems == {"train.batch_size": "must be >= 2, got 0"}
    assert "train.batch_size: must be >= 2, got 0" in message


def test_every_problem_is_reported_at_once():
    data = to_dict(default_config())
    data["train"]["optimizer"] = "adam"
    data["data"]["image_size"] = "big"
    data["model"]["colour"] = True
    problems, _ = problems_of(data)
    assert problems["train.optimizer"] == "must be one of adamw, sgd, got 'adam'"
    assert problems["data.image_size"] == "must be a whole number, got 'big'"
    assert problems["model.colour"].startswith("unknown setting; allowed here: backbone")


def test_unknown_task_and_task_field():
    problems, _ = problems_of({"tasks": {"simclr": {"temprature": 0.1}, "magic": {}}})
    assert problems["tasks.magic"].startswith("unknown task; registered tasks:")
    assert "simclr" in problems["tasks.magic"]
    assert problems["tasks.simclr.temprature"].startswith("unknown setting")


def test_missing_tasks_is_an_error():
    problems, _ = problems_of({"train": {"steps": 10}})
    assert "tasks" in problems


def test_partial_config_fills_defaults():
    config = config_from_dict({"tasks": {"simclr": {}}, "train": {"steps": 70}})
    assert config.train.steps == 70
    assert config.train.batch_size == RunConfig().train.batch_size


def test_rules_across_fields_and_registries_name_the_field_before_any_run():
    problems, _ = problems_of({"tasks": {"mae": {}, "simclr": {}}, "model": {"backbone": "resnet18"}})
    assert problems["tasks.mae"].startswith("MAE needs a ViT backbone") and "resnet18" in problems["tasks.mae"]
    assert "tasks.simclr" not in problems
    problems, _ = problems_of({"tasks": {"simclr": {}}, "data": {"context_slices": 2, "channels": 3}})
    assert "gives 5 channels" in problems["data.channels"]
    assert config_from_dict({"tasks": {"mae": {}}, "model": {"backbone": "vit_tiny"},
                             "data": {"context_slices": 2}}).data.context_slices == 2


def test_cross_field_checks():
    problems, _ = problems_of({"tasks": {"simclr": {}}, "augment": {"crop_scale_min": 0.9, "crop_scale_max": 0.5}})
    assert problems["augment.crop_scale_min"].startswith("must be <= augment.crop_scale_max")
    problems, _ = problems_of({"tasks": {"simclr": {}}, "model": {"backbone": "vit_tiny", "patch_size": 7}})
    assert "must divide data.image_size" in problems["model.patch_size"]


def test_wrong_shapes_and_non_finite_numbers():
    problems, _ = problems_of({"tasks": {"simclr": {}}, "train": [1, 2]})
    assert problems["train"] == "must be a mapping, got a list"
    problems, _ = problems_of({"tasks": {"simclr": {}}, "train": {"lr": float("nan")}})
    assert problems["train.lr"].startswith("must be a finite number")
    problems, _ = problems_of({"tasks": {"simclr": {}}, "train": {"steps": True}})
    assert problems["train.steps"] == "must be a whole number, got True"


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {steps: [\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "not valid YAML" in str(caught.value)


def test_every_setting_has_help_text():
    import dataclasses

    config = default_config()
    sections = [getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "tasks"]
    sections += list(config.tasks.values())
    for section in sections:
        for f in dataclasses.fields(section):
            assert field_info(f)["help"], f"{type(section).__name__}.{f.name} has no help text"
