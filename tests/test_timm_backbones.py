"""Any timm model as a backbone ("timm/<name>"): built offline for 1 or 3 channels, trained for a few real steps,
exported in timm's own layout (loadable with timm alone), checked by name, and picked in the GUI by typing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from workbench import load_encoder  # noqa: E402
from workbench.config import ConfigError, ModelConfig  # noqa: E402
from workbench.engine.events import FinishedEvent  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.export import export_run  # noqa: E402
from workbench.models import adapt_first_conv, backbone_names, create_backbone, describe_backbone  # noqa: E402
from workbench.tasks import config_from_dict  # noqa: E402
from workbench.tasks.autoregressive import prefix_causal_mask  # noqa: E402

VIT = "timm/vit_small_patch14_reg4_dinov2"  # DINOv2 layout: class token, 4 registers, 14 px patches


@pytest.mark.parametrize("name,side,channels,stride", [
    ("timm/convnext_atto", 32, 1, 32), ("timm/convnext_atto", 32, 3, 32), ("timm/resnet18", 32, 1, 32),
    ("timm/resnet18", 16, 3, 32), (VIT, 28, 1, 14), (VIT, 28, 3, 14),
    ("timm/swin_tiny_patch4_window7_224", 32, 1, 32)])  # Swin: NHWC maps, built for the image size
def test_timm_backbones_build_offline_for_any_channel_count(name, side, channels, stride):
    vit = name == VIT
    encoder = create_backbone(ModelConfig(backbone=name), channels, side).eval()
    images = torch.rand(2, channels, side, side)
    with torch.no_grad():
        pooled, features = encoder(images), encoder.feature_map(images)
    assert pooled.shape == (2, encoder.embed_dim) and torch.isfinite(pooled).all()
    assert features.shape[:2] == (2, encoder.embed_dim) and features.ndim == 4
    assert encoder.is_vit is vit and encoder.patch_size == (14 if vit else None)
    assert encoder.feature_stride() == stride  # measured at 64 px for any-size networks, at `side` for the others
    assert all(key.startswith("body.") for key in encoder.state_dict())
    architecture = encoder.architecture()
    assert architecture["library"] == "timm" and architecture["architecture"] == name.removeprefix("timm/")
    assert architecture["in_chans"] == channels


def test_importing_the_package_does_not_import_timm():
    code = "import sys, workbench, workbench.models, workbench.tasks; print('timm' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_vit_tokens_put_the_class_token_first_drop_the_registers_and_follow_kept_patches():
    encoder = create_backbone(ModelConfig(backbone=VIT), 1, 42).eval()  # 3 x 3 patches of 14 px
    images = torch.rand(2, 1, 42, 42)
    with torch.no_grad():
        tokens = encoder.tokens(images)
        assert tokens.shape == (2, 1 + 9, 384)
        assert torch.allclose(tokens[:, 0], encoder(images), atol=1e-5)  # the class token is the embedding
        order = torch.stack([torch.randperm(9), torch.randperm(9)])  # all patches, shuffled, positions kept
        shuffled = encoder.tokens(images, keep=order)
        expected = tokens[:, 1:].gather(1, order.unsqueeze(-1).expand(-1, -1, 384))
        assert torch.allclose(shuffled[:, 1:], expected, atol=1e-4)
        assert encoder.tokens(images, keep=order[:, :4]).shape == (2, 1 + 4, 384)


def test_vit_attention_mask_keeps_later_patches_from_earlier_tokens_registers_included():
    encoder = create_backbone(ModelConfig(backbone=VIT), 1, 42).eval()
    images = torch.rand(1, 1, 42, 42)
    changed = images.clone()
    changed[..., 28:, 28:] = torch.rand(1, 1, 14, 14)  # only the last patch (raster order) differs
    mask = prefix_causal_mask(1 + 9, torch.tensor([2]))  # class token + patch 0 are the prefix
    with torch.no_grad():
        before, after = encoder.tokens(images, attn_mask=mask), encoder.tokens(changed, attn_mask=mask)
    assert torch.allclose(before[:, :-1], after[:, :-1], atol=1e-5)  # nothing before the last patch saw it
    assert not torch.allclose(before[:, -1], after[:, -1], atol=1e-3)


def test_rgb_first_conv_weights_adapt_to_a_grayscale_encoder():
    rgb = create_backbone(ModelConfig(backbone="timm/convnext_atto"), 3, 32).state_dict()
    gray = create_backbone(ModelConfig(backbone="timm/convnext_atto"), 1, 32)
    adapted = adapt_first_conv(gray, rgb)
    assert adapted["body.stem.0.weight"].shape[1] == 1
    assert torch.allclose(adapted["body.stem.0.weight"], rgb["body.stem.0.weight"].sum(dim=1, keepdim=True))
    gray.load_state_dict(adapted)
    fitting = gray.state_dict()
    assert adapt_first_conv(gray, fitting)["body.stem.0.weight"] is fitting["body.stem.0.weight"]


def _train(tmp_path, backbone: str, side: int, tasks: dict):
    data = tiny_dataset(tmp_path / "data", per_class=3)
    config = tiny_config(data, tmp_path / "runs", model={"backbone": backbone}, data={"image_size": side},
                         tasks=tasks, train={"steps": 2, "checkpoint_every": 2, "batch_size": 4},
                         eval={"every_steps": 2, "subset_size": 12})
    trainer = Trainer(config)
    assert isinstance(trainer.run(), FinishedEvent)
    return trainer


def test_simclr_trains_a_timm_cnn_and_its_export_loads_with_timm_alone(tmp_path):
    trainer = _train(tmp_path, "timm/convnext_atto", 32, {"simclr": {}})
    path = export_run(trainer.run_dir, "safetensors")
    description = json.loads((path.parent / "encoder.json").read_text())
    model = description["model"]
    assert (model["library"], model["architecture"], model["in_chans"]) == ("timm", "convnext_atto", 1)
    net = timm.create_model(model["architecture"], pretrained=False, num_classes=0, in_chans=model["in_chans"])
    net.load_state_dict(load_file(str(path)))  # strict: timm's own keys, nothing else
    images = torch.rand(3, 1, 32, 32)
    mean = torch.tensor(description["input"]["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(description["input"]["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        expected = net.eval()((images - mean) / std)
        assert torch.allclose(expected, load_encoder(path.parent)(images), atol=1e-5)
        for fmt in ("torchscript", "onnx"):  # the traced formats of a timm network agree too
            assert torch.allclose(load_encoder(export_run(trainer.run_dir, fmt))(images), expected, atol=1e-4)
    assert "timm.create_model('convnext_atto'" in (path.parent / "MODEL_CARD.md").read_text()


def test_mae_and_next_patch_train_a_timm_vit_with_registers_and_export_in_timm_layout(tmp_path):
    trainer = _train(tmp_path, VIT, 28, {"mae": {}, "next_patch": {}})
    path = export_run(trainer.run_dir, "safetensors")
    model = json.loads((path.parent / "encoder.json").read_text())["model"]
    assert model["img_size"] == 28 and model["architecture"] == "vit_small_patch14_reg4_dinov2"
    net = timm.create_model(model["architecture"], pretrained=False, num_classes=0, in_chans=1, img_size=28)
    net.load_state_dict(load_file(str(path)))
    encoder = load_encoder(path.parent)
    images = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        tokens = net.eval().forward_features((images - encoder.mean) / encoder.std)
        expected = tokens[:, 0] if model["pooling"] == "cls" else tokens[:, net.num_prefix_tokens:].mean(dim=1)
        assert torch.allclose(encoder(images), expected, atol=1e-5)


def test_unknown_timm_names_are_refused_naming_the_field_with_close_names(tmp_path):
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"model": {"backbone": "timm/convnxt_atto"}, "tasks": {"simclr": {}}})
    (field, message), = caught.value.problems
    assert field == "model.backbone" and "timm/convnext_atto" in message
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"model": {"backbone": "convnext"}, "tasks": {"simclr": {}}})
    assert caught.value.problems[0][0] == "model.backbone" and "timm/<name>" in caught.value.problems[0][1]
    assert caught.value.problems[0][1].endswith("(did you mean timm/convnext?)")  # a bare timm name
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"model": {"backbone": VIT}, "data": {"image_size": 32}, "tasks": {"simclr": {}}})
    assert caught.value.problems == [("data.image_size", f"must be a multiple of {VIT}'s patch size 14, got 32")]
    fits = config_from_dict({"model": {"backbone": VIT}, "data": {"image_size": 28}, "tasks": {"mae": {}}})
    assert fits.model.backbone == VIT  # 28 px: 2 x 2 patches of 14, whatever model.patch_size says


def test_the_offered_names_and_facts_cover_built_ins_and_timm():
    names = backbone_names(include_timm=True)
    assert names[:5] == sorted(["small_cnn", "resnet18", "resnet50", "vit_tiny", "vit_small"])
    assert {"timm/convnext_atto", "timm/efficientnet_b0", "timm/regnetx_002", VIT} <= set(names)
    facts = describe_backbone(VIT)
    assert (facts.kind, facts.patch_size, facts.embed_dim, facts.fixed_input_size) == ("vit", 14, 384, True)
    assert 21e6 < facts.parameters < 23e6
    assert describe_backbone("timm/convnext_atto").fixed_input_size is False


def test_picker_filters_by_typed_text_and_describes_the_choice(qtbot):
    from gui_helpers import show_widget
    from workbench.gui.backbone_picker import BackbonePicker
    from workbench.gui.forms import ConfigForm

    form = show_widget(qtbot, ConfigForm(ModelConfig, "model"), 560, 300)
    picker = form.editor("backbone")
    assert isinstance(picker, BackbonePicker)
    form.set_values(ModelConfig())
    qtbot.waitUntil(lambda: "M parameters" in picker.facts.text(), timeout=20_000)
    picker.line.setFocus()
    picker.line.clear()
    qtbot.keyClicks(picker.line, "convnext_at")
    qtbot.waitUntil(lambda: "timm/convnext_atto" in picker.matches(), timeout=20_000)
    assert all("convnext_at" in name for name in picker.matches())
    picker.line.setText("timm/convnext_atto")
    with qtbot.waitSignal(picker.edited):
        picker.line.editingFinished.emit()
    qtbot.waitUntil(lambda: "M parameters" in picker.facts.text(), timeout=20_000)
    assert "3.4 M parameters" in picker.facts.text() and "any image side" in picker.facts.text()
    assert form.values().backbone == "timm/convnext_atto"
    picker.wait()
