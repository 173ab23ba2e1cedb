"""Backbones, heads and weight loading, run for real at tiny sizes."""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import onnxruntime
import pytest
import torch
from safetensors.torch import save_file

from workbench.config import ModelConfig, field_info
from workbench.models import MLPHead, backbone_kind, backbone_names, create_backbone, register_backbone


def _backbone(name: str, channels: int = 1, size: int = 32, **settings):
    torch.manual_seed(0)
    return create_backbone(ModelConfig(backbone=name, **settings), channels, size)


def test_registry_matches_the_config_choices():
    choices = field_info(dataclasses.fields(ModelConfig)[0])["choices"]
    assert sorted(choices) == backbone_names()


@pytest.mark.parametrize("name", ["small_cnn", "resnet18", "resnet50", "vit_tiny", "vit_small"])
@pytest.mark.parametrize("channels", [1, 3])
def test_backbone_gives_pooled_features_of_embed_dim(name, channels):
    if name in ("resnet50", "vit_small") and channels == 3:
        pytest.skip("one forward of the big models is enough")
    encoder = _backbone(name, channels, size=32, patch_size=8).eval()
    with torch.no_grad():
        features = encoder(torch.randn(2, channels, 32, 32))
    assert features.shape == (2, encoder.embed_dim)
    assert torch.isfinite(features).all()


def test_embed_dims_are_the_documented_ones():
    dims = {name: _backbone(name, 1, 32).embed_dim for name in ["small_cnn", "resnet18", "vit_tiny"]}
    assert dims == {"small_cnn": 256, "resnet18": 512, "vit_tiny": 192}


def test_small_image_stem_keeps_resolution():
    small = _backbone("resnet18", 1, small_image_stem=True).body
    large = _backbone("resnet18", 1, small_image_stem=False).body
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.Identity)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.in_channels == 1
    x = torch.randn(1, 1, 32, 32)
    assert small.layer1(small.relu(small.bn1(small.conv1(x)))).shape[-1] == 32


def test_vit_rejects_image_size_not_multiple_of_patch():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        _backbone("vit_tiny", 1, size=30, patch_size=8)


def test_unknown_backbone_and_no_channels_are_refused():
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone(ModelConfig(backbone="alexnet"), 1, 32)
    with pytest.raises(ValueError, match="at least 1 channel"):
        create_backbone(ModelConfig(), 0, 32)


@pytest.mark.parametrize("name", ["small_cnn", "resnet18", "vit_tiny"])
def test_every_kind_of_backbone_takes_2_5d_stacks_of_5_channels(name):
    """context_slices: 2 gives 5 gray channels (a slice and two neighbours on each side)."""
    encoder = _backbone(name, 5).eval()
    with torch.no_grad():
        assert encoder(torch.rand(2, 5, 32, 32)).shape == (2, encoder.embed_dim)


def test_backbone_kinds_come_from_the_registry_and_a_name_is_registered_once():
    assert {name: backbone_kind(name) for name in backbone_names()} == {
        "small_cnn": "conv", "resnet18": "conv", "resnet50": "conv", "vit_tiny": "vit", "vit_small": "vit"}
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("resnet18", "conv")


def test_channels_last_gives_the_same_features():
    encoder = _backbone("resnet18", 3).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        plain = encoder(x)
        encoder.to(memory_format=torch.channels_last)
        fast = encoder(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("name,size", [("small_cnn", 32), ("resnet18", 16), ("vit_tiny", 16)])
def test_trace_and_onnx_export_match_eager(name, size):
    encoder = _backbone(name, 1, size=size, patch_size=8).eval()
    x = torch.randn(3, 1, size, size)
    with torch.no_grad():
        eager = encoder(x)
        traced = torch.jit.trace(encoder, x)
        torch.testing.assert_close(traced(x), eager, atol=1e-5, rtol=1e-5)
    buffer = io.BytesIO()
    torch.onnx.export(encoder, (x,), buffer, dynamo=False, opset_version=17, input_names=["images"],
                      output_names=["features"], dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}})
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    other_batch = torch.randn(5, 1, size, size)
    for images in (x, other_batch):
        (onnx_features,) = session.run(None, {"images": images.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(onnx_features, encoder(images).numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_init_weights_are_loaded(tmp_path, suffix):
    source = _backbone("small_cnn")
    torch.manual_seed(123)
    for parameter in source.parameters():
        torch.nn.init.normal_(parameter)
    path = tmp_path / f"weights{suffix}"
    state = {key: value.contiguous() for key, value in source.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    loaded = _backbone("small_cnn", init_weights=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_plain_torchvision_state_dict_loads_without_its_classifier(tmp_path):
    from torchvision.models import resnet18
    net = resnet18(weights=None)
    net.conv1 = torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    torch.save({"state_dict": net.state_dict()}, tmp_path / "resnet18.pth")
    loaded = _backbone("resnet18", init_weights=str(tmp_path / "resnet18.pth"))
    assert torch.equal(loaded.body.layer4[1].conv2.weight, net.layer4[1].conv2.weight)


def test_mismatched_weights_name_the_keys(tmp_path):
    state = _backbone("small_cnn").state_dict()
    state.pop("body.0.0.weight")
    state["body.extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"missing keys: body\.0\.0\.weight.*unexpected keys: body\.extra\.weight"):
        _backbone("small_cnn", init_weights=str(tmp_path / "bad.pt"))
    state = _backbone("small_cnn").state_dict()
    state["body.1.0.weight"] = torch.zeros(64, 16, 3, 3)  # not the first conv: nothing adapts it
    torch.save(state, tmp_path / "narrow.pt")
    with pytest.raises(ValueError, match=r"wrong shapes.*body\.1\.0\.weight \(64, 16, 3, 3\) vs \(64, 32, 3, 3\)"):
        _backbone("small_cnn", channels=1, init_weights=str(tmp_path / "narrow.pt"))


def test_missing_or_non_tensor_weights_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        _backbone("small_cnn", init_weights=str(tmp_path / "absent.pt"))
    torch.save({"step": 3}, tmp_path / "not_weights.pt")
    with pytest.raises(ValueError, match="state dict of tensors"):
        _backbone("small_cnn", init_weights=str(tmp_path / "not_weights.pt"))


def test_mlp_head_layers_and_shapes():
    head = MLPHead(16, 32, 8, num_layers=3, last_batch_norm=True)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]
    assert head(torch.randn(4, 16)).shape == (4, 8)
    linear = MLPHead(16, 0, 4, num_layers=1)
    assert [type(layer).__name__ for layer in linear.layers] == ["Linear"]
    with pytest.raises(ValueError):
        MLPHead(16, 32, 8, num_layers=0)
