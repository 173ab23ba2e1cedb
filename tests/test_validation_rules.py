"""Rules across fields, checked by the one validator before any run starts: each names its field, and each
agrees with what the task itself would do when run."""
from __future__ import annotations

import pytest
import torch

from workbench.cli.main import build_parser, main
from workbench.config import ConfigError, ModelConfig, field_info
from workbench.config.schema import backbone_choices
from workbench.engine.schedule import shortened_warmup
from workbench.models import backbones, create_backbone
from workbench.models.encoder import Encoder
from workbench.models.small_cnn import small_cnn
from workbench.tasks import config_from_dict, get_task
from workbench.tasks.jigsaw import hamming_permutations
from workbench.tasks.patches import grid_tiles


def problems_of(**sections) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(sections)
    return dict(caught.value.problems)


def test_jigsaw_asks_for_no_more_permutations_than_its_grid_has():
    problems = problems_of(tasks={"jigsaw": {"grid": 2}})
    assert list(problems) == ["tasks.jigsaw.permutations"]
    assert "only 24" in problems["tasks.jigsaw.permutations"] and "tasks.jigsaw.grid" in problems[
        "tasks.jigsaw.permutations"] and "got 64" in problems["tasks.jigsaw.permutations"]
    config_from_dict({"tasks": {"jigsaw": {"grid": 2, "permutations": 24}}})
    assert hamming_permutations(4, 24).shape == (24, 4)  # the limit is the task's own
    with pytest.raises(ValueError, match="only 24 permutations"):
        hamming_permutations(4, 25)


@pytest.mark.parametrize("task", ["jigsaw", "relative_location"])
def test_tiles_too_small_for_the_image_are_refused_as_the_task_would_refuse_them(task):
    problems = problems_of(data={"image_size": 16}, tasks={task: {"gap": 2}})
    message = problems[f"tasks.{task}.gap"]
    assert "data.image_size 16" in message and "at least 4 px" in message
    with pytest.raises(ValueError) as raised:
        grid_tiles(torch.zeros(1, 1, 16, 16), 3, 2)
    assert str(raised.value) == message
    config_from_dict({"data": {"image_size": 18}, "tasks": {task: {"gap": 2}}})  # 18 // 3 - 2 = 4 px tiles


def test_hidden_squares_and_holes_must_tile_the_image_two_by_two():
    problems = problems_of(data={"image_size": 48}, tasks={"simmim": {"mask_patch_size": 10}})
    assert problems["tasks.simmim.mask_patch_size"] == "must divide the image side, data.image_size (48), got 10"
    problems = problems_of(data={"image_size": 32}, tasks={"simmim": {"mask_patch_size": 32},
                                                          "reconstruction": {"hole_size": 32}})
    assert "at most half" in problems["tasks.simmim.mask_patch_size"]
    assert "at most half" in problems["tasks.reconstruction.hole_size"]
    config_from_dict({"data": {"image_size": 32}, "tasks": {"reconstruction": {"hole_size": 32, "mode": "denoise"}}})

    task_class = get_task("simmim")
    encoder = create_backbone(ModelConfig(), 1, 32)
    task = task_class(task_class.Config(mask_patch_size=32), encoder, encoder.embed_dim)
    with pytest.raises(ValueError, match="simmim.mask_patch_size must be at most half"):
        task.training_step(torch.zeros(2, 1, 32, 32, dtype=torch.uint8), lambda x: x.float())


def test_patches_read_or_hidden_by_vit_and_cnn_tasks_name_the_setting_that_sets_them():
    problems = problems_of(data={"image_size": 16}, model={"backbone": "vit_tiny", "patch_size": 16},
                           tasks={"mae": {}})
    assert problems["model.patch_size"].startswith("mae needs it to cut the image into patches: must be at most half")
    problems = problems_of(data={"image_size": 16}, model={"backbone": "vit_tiny", "patch_size": 16},
                           tasks={"next_patch": {}})
    assert problems["model.patch_size"].startswith("next_patch reads the ViT's patches")
    problems = problems_of(data={"image_size": 32}, tasks={"next_patch": {"cnn_patch_size": 32}})
    assert "at most half" in problems["tasks.next_patch.cnn_patch_size"]
    problems = problems_of(data={"image_size": 36}, model={"backbone": "vit_tiny", "patch_size": 8},
                           tasks={"mae": {}})
    assert list(problems) == ["model.patch_size"]  # the ViT's own rule, said once
    config_from_dict({"data": {"image_size": 32}, "model": {"backbone": "vit_tiny", "patch_size": 16},
                      "tasks": {"mae": {}, "next_patch": {}}})


def test_warm_up_must_end_before_the_run_does():
    problems = problems_of(tasks={"simclr": {}}, train={"steps": 20, "warmup_steps": 20})
    assert problems == {"train.warmup_steps": "must be below train.steps (20): the warm-up must end before the run "
                                              "does; got 20"}
    assert config_from_dict({"tasks": {"simclr": {}}, "train": {"steps": 20, "warmup_steps": 19}}).train.steps == 20


def test_a_shorter_run_keeps_its_warm_up_share_and_stays_valid():
    assert shortened_warmup(20, 300, 2) == 0
    assert shortened_warmup(20, 300, 150) == 10
    assert shortened_warmup(20, 300, 1000) == 20  # a longer run keeps its warm-up
    assert all(shortened_warmup(warmup, 50, steps) < steps for warmup in range(50) for steps in range(1, 60))


def test_cli_steps_shorten_the_warm_up_and_say_so(capsys):
    from workbench.cli.main import _train_config

    config = _train_config(build_parser().parse_args(["train", "--preset", "Quick CPU demo", "--steps", "2"]))
    assert (config.train.steps, config.train.warmup_steps) == (2, 0)
    assert "--steps 2: train.warmup_steps lowered from 20 to 0" in capsys.readouterr().err
    config = _train_config(build_parser().parse_args(["train", "--preset", "Quick CPU demo", "--steps", "900"]))
    assert (config.train.steps, config.train.warmup_steps) == (900, 20)
    assert "warmup" not in capsys.readouterr().err


def test_cli_config_file_with_a_warm_up_as_long_as_the_run_is_named(tmp_path, capsys):
    path = tmp_path / "short.yaml"
    path.write_text("tasks: {simclr: {}}\ntrain: {steps: 5}\n")
    assert main(["train", str(path)]) == 2
    error = capsys.readouterr().err
    assert "train.warmup_steps: must be below train.steps (5)" in error and "got 20" in error


def test_backbone_choices_are_the_registry(monkeypatch):
    choice = field_info(next(f for f in ModelConfig.__dataclass_fields__.values() if f.name == "backbone"))
    assert sorted(choice["choices"]) == backbones.backbone_names() == sorted(backbone_choices())
    monkeypatch.setattr(backbones, "_BACKBONES", dict(backbones._BACKBONES))  # a registry of this test's own
    monkeypatch.setattr(backbones, "_KINDS", dict(backbones._KINDS))

    @backbones.register_backbone("tiny_test_cnn", "conv")
    def _tiny(cfg, in_channels, image_size):
        return Encoder(small_cnn(in_channels, widths=(8, 16)), 16, in_channels)

    assert "tiny_test_cnn" in backbone_choices()
    config = config_from_dict({"model": {"backbone": "tiny_test_cnn"}, "tasks": {"rotation": {}}})
    assert create_backbone(config.model, 1, 16)(torch.zeros(2, 1, 16, 16)).shape == (2, 16)
    problems = problems_of(model={"backbone": "nonexistent"}, tasks={"rotation": {}})
    assert "tiny_test_cnn" in problems["model.backbone"] and "nonexistent" in problems["model.backbone"]


def test_head_widths_that_do_not_split_into_their_heads_are_refused_before_start():
    mae = problems_of(model={"backbone": "vit_tiny"}, tasks={"mae": {"decoder_dim": 100, "decoder_heads": 8}})
    assert "not divisible by 8 heads" in mae["tasks.mae.decoder_heads"]
    nxt = problems_of(tasks={"next_patch": {"head_dim": 66, "head_heads": 2}})
    assert "multiple of 4" in nxt["tasks.next_patch.head_dim"]
    config_from_dict({"model": {"backbone": "vit_tiny"}, "tasks": {"mae": {"decoder_dim": 96, "decoder_heads": 8}}})
