"""Exports: eager vs TorchScript vs ONNX Runtime agree; folders are complete and carry no paths."""
import json

import pytest
import torch

from engine_helpers import tiny_config, tiny_dataset
from workbench import load_encoder
from workbench.engine.events import EvalEvent
from workbench.engine.quality_values import format_value
from workbench.engine.runs import RunFolder
from workbench.engine.trainer import Trainer
from workbench.export import FORMATS, export_run
from workbench.export.exporter import encoder_from_checkpoint
from workbench.tasks import load_config


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("data"))
    config = tiny_config(data, tmp_path_factory.mktemp("runs"), train={"steps": 4})
    trainer = Trainer(config)
    trainer.run()
    return trainer.run_dir, data


@pytest.mark.parametrize("backbone", ["small_cnn", "vit_tiny"])
def test_all_formats_match_the_trained_encoder(tmp_path, backbone):
    data = tiny_dataset(tmp_path / "data", per_class=3)
    config = tiny_config(data, tmp_path / "runs", model={"backbone": backbone, "patch_size": 8},
                         train={"steps": 2, "checkpoint_every": 2})
    trainer = Trainer(config)
    trainer.run()
    folder = RunFolder(trainer.run_dir)
    reference, spec, _ = encoder_from_checkpoint(config, folder.latest_checkpoint())
    images = torch.rand(3, spec["channels"], spec["image_size"], spec["image_size"])
    with torch.no_grad():
        expected = reference(images)
        # the trained encoder inside the trainer gives the same embeddings as the rebuilt one
        trainer.model.encoder.eval()
        normalised = (images - reference.mean) / reference.std
        assert torch.allclose(trainer.model.encoder(normalised), expected, atol=1e-5)
    for fmt in FORMATS:
        path = export_run(trainer.run_dir, fmt)
        assert path.is_file()
        encoder = load_encoder(path.parent)
        with torch.no_grad():
            got = encoder(images)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-4), f"{fmt} differs by {(got - expected).abs().max()}"


def test_export_folder_has_spec_and_model_card_without_paths(trained_run):
    run_dir, data_root = trained_run
    path = export_run(run_dir, "safetensors")
    folder = path.parent
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md", "encoder.json", "encoder.safetensors"]
    description = json.loads((folder / "encoder.json").read_text())
    assert description["input"]["channels"] == 1 and description["input"]["image_size"] == 32
    card = (folder / "MODEL_CARD.md").read_text()
    assert "simclr" in card
    step = description["step"]  # the health shown is the exported checkpoint's own evaluation, not the last one
    [evaluation] = [event for event in RunFolder(run_dir).read_events() if isinstance(event, EvalEvent)
                    and event.step == step]
    assert f"exported checkpoint (step {step})" in card
    assert card.split("| kNN accuracy |")[1].splitlines()[0].endswith(
        f"| {format_value('knn_accuracy', evaluation.values['knn_accuracy'])} |")
    assert f"- checkpoint exported: {description['checkpoint']}" in card and description["checkpoint"]
    for text in (card, (folder / "encoder.json").read_text()):
        assert str(data_root) not in text and str(run_dir) not in text
    # exporting again replaces the folder whole; no temporary folders are left behind
    export_run(run_dir, "safetensors")
    assert sorted(p.name for p in (run_dir / "exports").iterdir()) == ["safetensors"]


def test_export_without_checkpoint_says_so(tmp_path, trained_run):
    run_dir, _ = trained_run
    config = load_config(RunFolder(run_dir).config_path)
    assert config.tasks
    empty = tmp_path / "fresh"
    empty.mkdir()
    (empty / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        export_run(empty, "onnx")
