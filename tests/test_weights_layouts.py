"""Starting weights in the layouts they come in: torchvision, timm checkpoints, Hugging Face folders, DINOv2
checkpoints, this app's exports and run checkpoints; adapted where well defined, refused with named keys else."""
import argparse
import hashlib
import json
import pathlib
import re

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed

from engine_helpers import tiny_config, tiny_dataset
from workbench.config import ModelConfig
from workbench.engine.checkpoint import Checkpoint
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.export import export_run
from workbench.models import create_backbone
from workbench.models.weights import load_encoder_weights, weights_identity


def _encoder(backbone: str, channels: int, size: int, weights: pathlib.Path | str = "", **model):
    return create_backbone(ModelConfig(backbone=backbone, init_weights=str(weights), **model), channels, size)


def _timm(name: str, seed: int, **kwargs) -> dict[str, torch.Tensor]:
    """A timm model's state dict with distinctive values (its classifier included, as timm saves it)."""
    torch.manual_seed(seed)
    net = timm.create_model(name, pretrained=False, num_classes=5, **kwargs)
    for tensor in net.state_dict().values():
        if tensor.is_floating_point():
            tensor.normal_()
    return {key: value.contiguous() for key, value in net.state_dict().items()}


def _assert_loaded(encoder, expected: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> None:
    own = encoder.state_dict()
    assert set(own) <= {f"body.{key}" for key in expected}
    assert all(re.fullmatch(r"(head\.)?(fc|head)\.(weight|bias)", key) for key in expected if f"body.{key}" not in own)
    for key, value in expected.items():
        if f"body.{key}" in own and key not in skip:
            assert torch.equal(own[f"body.{key}"], value), key


def test_torchvision_state_dict_loads_with_its_classifier_dropped(tmp_path):
    from torchvision.models import resnet18
    torch.manual_seed(0)
    net = resnet18(weights=None, num_classes=7)
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    encoder = _encoder("resnet18", 3, 32, tmp_path / "resnet18.pth", small_image_stem=False)
    _assert_loaded(encoder, net.state_dict())
    assert "dropped fc.bias, fc.weight" in encoder.weights_report.summary()
    assert encoder.weights_report.name == "resnet18.pth"


def test_rgb_weights_into_a_grayscale_encoder_sum_the_first_conv(tmp_path):
    from torchvision.models import resnet18
    net = resnet18(weights=None)
    torch.save(net.state_dict(), tmp_path / "rgb.pth")
    encoder = _encoder("resnet18", 1, 32, tmp_path / "rgb.pth", small_image_stem=False)
    assert torch.allclose(encoder.body.conv1.weight, net.conv1.weight.sum(dim=1, keepdim=True))
    assert torch.equal(encoder.body.layer1[0].conv1.weight, net.layer1[0].conv1.weight)
    assert "first conv body.conv1.weight summed 3 -> 1 channel" in encoder.weights_report.adapted
    timm_state = _timm("test_resnet", 1)
    save_file(timm_state, str(tmp_path / "timm_rgb.safetensors"))
    timm_encoder = _encoder("timm/test_resnet", 1, 32, tmp_path / "timm_rgb.safetensors")
    assert torch.allclose(timm_encoder.body.conv1[0].weight, timm_state["conv1.0.weight"].sum(dim=1, keepdim=True))


def test_timm_checkpoint_prefers_its_ema_weights_and_allows_its_arguments(tmp_path):
    plain, ema = _timm("test_resnet", 1), _timm("test_resnet", 2)
    checkpoint = {"epoch": 3, "arch": "test_resnet", "state_dict": plain, "state_dict_ema": ema,
                  "args": argparse.Namespace(model="test_resnet", lr=0.1), "version": 2}
    torch.save(checkpoint, tmp_path / "checkpoint-3.pth.tar")
    (tmp_path / "model_best.pth").write_bytes((tmp_path / "checkpoint-3.pth.tar").read_bytes())
    encoder = _encoder("timm/test_resnet", 3, 32, tmp_path / "model_best.pth")
    _assert_loaded(encoder, ema)
    assert encoder.weights_report.source[0] == "entry state_dict_ema"
    torch.save({"model": plain, "epoch": 1}, tmp_path / "model_entry.pt")
    _assert_loaded(_encoder("timm/test_resnet", 3, 32, tmp_path / "model_entry.pt"), plain)


@pytest.mark.parametrize("prefix", ["", "model.", "backbone.", "timm_model."])
def test_hugging_face_folder_with_or_without_a_prefix(tmp_path, prefix):
    state = _timm("test_convnext", 3)
    folder = tmp_path / "test_convnext.hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "test_convnext", "num_classes": 5}))
    save_file({prefix + key: value for key, value in state.items()}, str(folder / "model.safetensors"))
    encoder = _encoder("timm/test_convnext", 3, 32, folder)
    _assert_loaded(encoder, state)
    report = encoder.weights_report
    assert report.name == "test_convnext.hf/model.safetensors"
    assert report.sha256 == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert (f"keys behind {prefix}" in report.source) == bool(prefix)


def test_hugging_face_folder_with_pytorch_model_bin_or_shards(tmp_path):
    state = _timm("test_convnext", 4)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    torch.save(state, bin_folder / "pytorch_model.bin")
    _assert_loaded(_encoder("timm/test_convnext", 3, 32, bin_folder), state)
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    keys = sorted(state)
    halves = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for name, part in halves.items():
        save_file({key: state[key] for key in part}, str(sharded / name))
    weight_map = {key: name for name, part in halves.items() for key in part}
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    _assert_loaded(_encoder("timm/test_convnext", 3, 32, sharded), state)


def test_dinov2_checkpoint_loads_the_teacher_and_resizes_the_position_embedding(tmp_path):
    teacher, student = _timm("test_vit", 5, img_size=256), _timm("test_vit", 6, img_size=256)
    backbone = {key: value for key, value in teacher.items() if not key.startswith("head.")}
    model = {**{f"teacher.backbone.{key}": value for key, value in backbone.items()},
             **{f"student.backbone.{key}": value for key, value in student.items() if not key.startswith("head.")},
             "teacher.backbone.mask_token": torch.zeros(1, 64),
             "teacher.dino_head.mlp.0.weight": torch.randn(32, 64), "teacher.dino_head.last_layer.weight": torch.randn(8, 32)}
    torch.save({"model": model, "iteration": 99}, tmp_path / "model_0000099.rank_0.pth")
    same_size = _encoder("timm/test_vit", 3, 256, tmp_path / "model_0000099.rank_0.pth")
    _assert_loaded(same_size, backbone)
    report = same_size.weights_report
    assert "keys behind teacher.backbone." in report.source
    assert any("student.backbone.*" in note and "teacher.dino_head.*" in note for note in report.source)
    assert "removed mask_token" in report.summary()  # by timm's DINOv2 conversion
    small = _encoder("timm/test_vit", 3, 64, tmp_path / "model_0000099.rank_0.pth")
    _assert_loaded(small, backbone, skip=("pos_embed",))
    expected = resample_abs_pos_embed(backbone["pos_embed"], new_size=[4, 4], old_size=[16, 16], num_prefix_tokens=1)
    assert torch.equal(small.body.pos_embed, expected)
    assert "position embedding body.pos_embed resized 16x16 -> 4x4" in small.weights_report.adapted
    torch.save({"teacher": {f"backbone.{key}": value for key, value in backbone.items()}}, tmp_path / "teacher.pth")
    _assert_loaded(_encoder("timm/test_vit", 3, 256, tmp_path / "teacher.pth"), backbone)


def test_an_export_and_a_checkpoint_of_an_earlier_run_start_a_new_one(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_class=3)
    trainer = Trainer(tiny_config(data, tmp_path / "runs", train={"steps": 2, "checkpoint_every": 2}))
    trainer.run()
    trained = {key: value.clone() for key, value in trainer.model.encoder.state_dict().items()}
    export = export_run(trainer.run_dir, "safetensors").parent
    from_export = _encoder("small_cnn", 1, 32, export)
    for key, value in trained.items():
        assert torch.equal(from_export.state_dict()[key], value), key
    with pytest.raises(ValueError, match=r"found none; for a run folder choose a file in its checkpoints folder"):
        _encoder("small_cnn", 1, 32, trainer.run_dir)
    checkpoint = RunFolder(trainer.run_dir).latest_checkpoint()
    from_checkpoint = _encoder("small_cnn", 1, 32, checkpoint)
    saved = Checkpoint.load(checkpoint).model
    for key, value in from_checkpoint.state_dict().items():
        assert torch.equal(value, saved[f"encoder.{key}"]), key
    notes = from_checkpoint.weights_report.source
    assert "entry model" in notes and "keys behind encoder.body." in notes
    assert any("outside encoder.body." in note and "tasks.simclr.*" in note for note in notes)
    # a run started from that export: its own export names the starting weights by file name and SHA-256 only
    second = Trainer(tiny_config(data, tmp_path / "runs", model={"init_weights": str(export)},
                                 train={"steps": 2, "checkpoint_every": 2}))
    second.run()
    card_and_spec = export_run(second.run_dir, "safetensors").parent
    sha = hashlib.sha256((export / "encoder.safetensors").read_bytes()).hexdigest()
    card = (card_and_spec / "MODEL_CARD.md").read_text()
    assert f"- starting weights: safetensors/encoder.safetensors (SHA-256 {sha})" in card
    spec = json.loads((card_and_spec / "encoder.json").read_text())
    assert spec["model"]["starting_weights"] == {"file": "safetensors/encoder.safetensors", "sha256": sha}
    for text in (card, (card_and_spec / "encoder.json").read_text()):
        assert str(tmp_path) not in text


def test_weights_that_do_not_fit_name_the_keys(tmp_path):
    from torchvision.models import resnet50
    state = resnet50(weights=None).state_dict()
    del state["layer4.1.bn2.running_var"]
    torch.save(state, tmp_path / "resnet50.pth")
    with pytest.raises(ValueError, match=r"resnet50\.pth does not fit the encoder; missing keys: body\.layer4\.1\.bn2\.running_var; "
                                         r"unexpected keys: body\.layer1\.0\.bn3\.bias.*wrong shapes \(file vs "
                                         r"encoder\): body\.layer1\.0\.conv1\.weight \(64, 64, 1, 1\) vs \(64, 64, 3, 3\)"):
        _encoder("resnet18", 3, 32, tmp_path / "resnet50.pth", small_image_stem=False)
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "test_convnext"}))
    save_file(_timm("test_convnext", 1), str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"its config\.json is for test_convnext, the encoder is test_resnet"):
        _encoder("timm/test_resnet", 3, 32, folder)
    (folder / "model.safetensors").unlink()
    (folder / "a.pt").write_bytes(b"")
    (folder / "b.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"weights folder hf must hold .*found a\.pt, b\.pt"):
        _encoder("small_cnn", 1, 32, folder)


class _RunsCode:
    """Unpickling this would create a file: what a hostile weights file could do."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.mark.parametrize("name", ["evil.pth", "hf/pytorch_model.bin"])
def test_a_pickle_with_code_is_refused_and_never_runs(tmp_path, name):
    marker = tmp_path / "ran"
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    torch.save({"conv.weight": torch.zeros(1), "payload": _RunsCode(marker)}, path)
    with pytest.raises(ValueError, match=r"refused to load .*could run code"):
        _encoder("small_cnn", 1, 32, path.parent if name.startswith("hf/") else path)
    assert not marker.exists()


def test_weights_identity_names_the_file_not_its_path(tmp_path):
    encoder = _encoder("small_cnn", 1, 32)
    save_file(encoder.state_dict(), str(tmp_path / "w.safetensors"))
    name, sha = weights_identity(tmp_path / "w.safetensors")
    assert name == "w.safetensors" and sha == hashlib.sha256((tmp_path / "w.safetensors").read_bytes()).hexdigest()
    assert load_encoder_weights(encoder, tmp_path / "w.safetensors").summary() == f"started from w.safetensors " \
                                                                                  f"(sha256 {sha[:12]})"


def test_torchvision_vit_position_embedding_is_resized_for_a_smaller_image(tmp_path):
    source = _encoder("vit_tiny", 1, 32, patch_size=8)
    torch.save(source.state_dict(), tmp_path / "vit_32px.pt")
    small = _encoder("vit_tiny", 1, 16, tmp_path / "vit_32px.pt", patch_size=8)
    key = "body.encoder.pos_embedding"
    expected = resample_abs_pos_embed(source.state_dict()[key], new_size=[2, 2], old_size=[4, 4], num_prefix_tokens=1)
    assert torch.equal(small.state_dict()[key], expected)
    assert small.weights_report.adapted == [f"position embedding {key} resized 4x4 -> 2x2"]
    assert torch.equal(small.body.conv_proj.weight, source.body.conv_proj.weight)


def test_the_model_form_chooses_weights_and_remembers_recent_ones(qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QLineEdit

    from gui_helpers import show_widget, use_private_settings
    from workbench.gui import settings
    from workbench.gui.forms import ConfigForm
    from workbench.gui.weights_chooser import WeightsChooser

    use_private_settings(monkeypatch, tmp_path)
    form = show_widget(qtbot, ConfigForm(ModelConfig, "model"), 460, 520)
    line = form.editor("init_weights")
    assert isinstance(line, QLineEdit) and line.isVisible()  # a main setting, not under "Advanced settings"
    chooser = form.findChild(WeightsChooser, "model.init_weights.browse")
    assert chooser.text() == "Choose weights…"
    texts = [action.text() for action in chooser.menu().actions() if action.text()]
    assert texts == ["File…", "Folder…", "No recent weights", "None (random initialisation)"]
    folder, gone = tmp_path / "dinov2", tmp_path / "gone.pt"
    folder.mkdir()
    gone.write_bytes(b"")
    with qtbot.waitSignal(form.changed):
        chooser.choose(str(gone))
    gone.unlink()
    chooser.choose(str(folder))
    assert form.values().init_weights == str(folder)
    assert settings.recent_weights() == [str(folder), str(gone)]
    chooser.fill_menu()
    recent = {action.toolTip(): action for action in chooser.menu().actions() if action.toolTip() in
              (str(folder), str(gone))}
    assert recent[str(folder)].isEnabled() and not recent[str(gone)].isEnabled()
    assert recent[str(gone)].text().endswith("(missing)")
    chooser.choose("")
    assert form.values().init_weights == ""
    recent[str(folder)].trigger()
    assert form.values().init_weights == str(folder)
    form.grab().save(str(tmp_path / "model_form.png"))


def test_dinov2_hub_layout_with_registers_is_converted_by_timm(tmp_path):
    timm_state = _timm("vit_small_patch14_reg4_dinov2", 7, img_size=56)  # a 4x4 grid of 14 px patches
    dinov2 = {key: value for key, value in timm_state.items() if key not in ("reg_token", "pos_embed", "head.weight",
                                                                            "head.bias")}
    dinov2["register_tokens"] = timm_state["reg_token"]
    dinov2["pos_embed"] = torch.cat([torch.zeros(1, 1, 384), timm_state["pos_embed"]], dim=1)  # class position first
    dinov2["mask_token"] = torch.zeros(1, 384)
    save_file({f"teacher.backbone.{key}": value for key, value in dinov2.items()}, str(tmp_path / "dinov2.safetensors"))
    encoder = _encoder("timm/vit_small_patch14_reg4_dinov2", 1, 28, tmp_path / "dinov2.safetensors")
    assert torch.equal(encoder.body.reg_token, timm_state["reg_token"])
    assert torch.equal(encoder.body.blocks[11].mlp.fc2.weight, timm_state["blocks.11.mlp.fc2.weight"])
    assert torch.allclose(encoder.body.patch_embed.proj.weight,
                          timm_state["patch_embed.proj.weight"].sum(dim=1, keepdim=True))
    expected = resample_abs_pos_embed(timm_state["pos_embed"], new_size=[2, 2], old_size=[4, 4], num_prefix_tokens=0)
    assert torch.allclose(encoder.body.pos_embed, expected)
    adapted = encoder.weights_report.adapted
    assert any(note.startswith("timm's vision_transformer conversion renamed or removed") for note in adapted)
    assert "first conv body.patch_embed.proj.weight summed 3 -> 1 channel" in adapted
