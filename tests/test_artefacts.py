"""Typed, versioned run artefacts: a run folder written before format versions existed still opens (through
the typed classes and the app's readers), each artefact round-trips, and a newer format is refused by name."""
import json
import math

import pytest
import torch
from safetensors.torch import save_file

from workbench import load_encoder
from workbench.config import ConfigError, ModelConfig, save_config
from workbench.config.formats import FORMAT_KEY, ArtefactError
from workbench.engine.checkpoint import Checkpoint, CheckpointError
from workbench.engine.embedding_map import EmbeddingMap
from workbench.engine.runs import RunFolder, list_runs, run_status
from workbench.data.scan_summary import ScanSummary
from workbench.export import export_run
from workbench.export.description import EncoderDescription
from workbench.export.exporter import NormalizedEncoder
from workbench.models import create_backbone
from workbench.probes.report import build_report
from workbench.probes.table import ProbeResult, ProbeRow
from workbench.tasks import default_config, load_config

# ---- a run folder exactly as the writers wrote it before format versions (no `format_version` anywhere) ----
OLD_CONFIG_YAML = """\
data:
  root: ../../data
  labels_csv: ''
  image_size: 32
  channels: 1
  dicom_window: file
  window_center: 40.0
  window_width: 400.0
  cache_ram_mb: 2048
  cache_dir: ''
  max_images: 0
  slices_per_volume: 0
  min_foreground: 0.0
  context_slices: 0
  sequences: none
augment:
  crop_scale_min: 0.25
  crop_scale_max: 1.0
  hflip_p: 0.5
  vflip_p: 0.0
  rotation_degrees: 0.0
  brightness: 0.4
  contrast: 0.4
  saturation: 0.4
  hue: 0.1
  color_jitter_p: 0.8
  grayscale_p: 0.2
  blur_p: 0.5
  blur_sigma_max: 1.5
  solarize_p: 0.0
  mask_p: 0.0
model:
  backbone: small_cnn
  small_image_stem: true
  patch_size: 8
  init_weights: ''
tasks:
  simclr:
    weight: 1.0
    temperature: 0.2
    projector_hidden_dim: 512
    projector_out_dim: 128
    exclude_same_volume_negatives: true
train:
  steps: 4
  batch_size: 8
  optimizer: adamw
  lr: 0.002
  weight_decay: 0.0001
  momentum: 0.9
  warmup_steps: 2
  grad_clip: 3.0
  precision: fp32
  device: cpu
  seed: 0
  checkpoint_every: 4
  log_every: 2
  threads: 0
  prefetch: auto
  channels_last: auto
  compile: false
eval:
  every_steps: 4
  subset_size: 24
  knn_k: 3
  knn_test_fraction: 0.3
  map_method: pca
output:
  out_dir: ..
  name: ''
"""

OLD_METRICS = [
    {"event": "StartedEvent", "run_dir": ".", "step": 0, "total_steps": 4, "device": "cpu", "precision": "fp32",
     "num_images": 12, "num_labelled": 12},
    {"event": "EvalEvent", "step": 0, "epoch": 0.0, "values": {"knn_accuracy": 0.25, "embedding_std": 0.031}},
    {"event": "StepEvent", "step": 2, "epoch": 1.33, "total_steps": 4, "values": {"loss": 2.71, "lr": 0.002},
     "eta_seconds": 0.4},
    {"event": "EmbeddingMapEvent", "step": 4, "path": "embedding_map.json"},
    {"event": "EvalEvent", "step": 4, "epoch": 2.67, "values": {"knn_accuracy": 0.5, "embedding_std": 0.044}},
    {"event": "CheckpointEvent", "step": 4, "path": "checkpoints/step_00000004.pt"},
    {"event": "FinishedEvent", "step": 4, "run_dir": ".", "stopped": False},
]

OLD_INPUT_SPEC = {"backbone": "small_cnn", "embed_dim": 256, "channels": 1, "image_size": 32, "mean": [0.4712],
                  "std": [0.2281], "pixel_range": 255.0, "dicom_window": "file", "window_center": 40.0,
                  "window_width": 400.0, "context_slices": 0, "slices_per_volume": 0, "min_foreground": 0.0,
                  "class_names": ["circle", "square"], "tasks": ["simclr"]}

OLD_SCAN_REPORT = {"root_name": "shapes-demo", "readable": 12, "files": 12, "volumes": 0, "slices_left_out": {},
                   "labels": {"circle": 6, "square": 6}, "unlabelled": 0,
                   "skipped": [{"path": "notes/readme.txt", "reason": "not an image file"}],
                   "height": {"min": 32, "median": 32, "max": 32}, "width": {"min": 32, "median": 32, "max": 32},
                   "channels": {"1": 12}, "bit_depths": {"8": 12}}

OLD_EMBEDDING_MAP = {"step": 4, "method": "pca", "points": [[0.12, -0.5], [1.3, 0.25], [-0.75, 0.01], [0.4, 0.9]],
                     "labels": [0, 1, 0, 1], "paths": ["circle/0.png", "square/0.png", "circle/1.png", "square/1.png"],
                     "frames": [0, 0, 0, 0], "class_names": ["circle", "square"], "loss": [2.5, 3.25, None, 2.0]}

OLD_PROBE = {
    "run": "old-run", "step": 4, "checkpoint": "step_00000004.pt", "tasks": ["simclr"], "backbone": "small_cnn",
    "class_names": ["circle", "square"], "fractions": [1.0], "seeds": 2, "test_fraction": 0.3,
    "split": "split by image", "knn_k": 3, "device": "cpu", "supervised_schedule": None, "finetune_schedule": None,
    "summary": [
        {"method": "linear probe", "fraction": 1.0, "seeds": 2, "train_size": 8.0, "accuracy": 0.875,
         "accuracy_std": 0.125, "balanced_accuracy": 0.875, "balanced_accuracy_std": 0.125,
         "per_class_recall": [1.0, 0.75]},
        {"method": "random init, linear", "fraction": 1.0, "seeds": 2, "train_size": 8.0, "accuracy": 0.5,
         "accuracy_std": 0.0, "balanced_accuracy": 0.5, "balanced_accuracy_std": 0.0,
         "per_class_recall": [0.5, 0.5]}],
    "rows": [
        {"method": "linear probe", "fraction": 1.0, "seed": 0, "train_size": 8, "test_size": 4, "accuracy": 1.0,
         "balanced_accuracy": 1.0, "per_class_recall": [1.0, 1.0]},
        {"method": "linear probe", "fraction": 1.0, "seed": 1, "train_size": 8, "test_size": 4, "accuracy": 0.75,
         "balanced_accuracy": 0.75, "per_class_recall": [1.0, 0.5]},
        {"method": "random init, linear", "fraction": 1.0, "seed": 0, "train_size": 8, "test_size": 4,
         "accuracy": 0.5, "balanced_accuracy": 0.5, "per_class_recall": [0.5, 0.5]},
        {"method": "random init, linear", "fraction": 1.0, "seed": 1, "train_size": 8, "test_size": 4,
         "accuracy": 0.5, "balanced_accuracy": 0.5, "per_class_recall": [0.5, 0.5]}]}

OLD_ENCODER_JSON = {
    "format": "safetensors", "file": "encoder.safetensors", "step": 4,
    "input": {"channels": 1, "image_size": 32, "mean": [0.4712], "std": [0.2281], "pixel_range": 255.0,
              "dicom_window": "file", "window_center": 40.0, "window_width": 400.0, "context_slices": 0,
              "slices_per_volume": 0, "min_foreground": 0.0,
              "expects": "float32 images in [0, 1], shape (batch, channels, image_size, image_size)"},
    "model": {"backbone": "small_cnn", "small_image_stem": True, "patch_size": 8}, "embed_dim": 256,
    "tasks": ["simclr"]}


@pytest.fixture
def old_run(tmp_path):
    """runs/old-run as the app wrote it before format versions, with a safetensors export beside it."""
    run = tmp_path / "runs" / "old-run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(OLD_CONFIG_YAML, encoding="utf-8")
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in OLD_METRICS), encoding="utf-8")
    (run / "scan_report.json").write_text(json.dumps(OLD_SCAN_REPORT, indent=1), encoding="utf-8")
    (run / "embedding_map.json").write_text(json.dumps(OLD_EMBEDDING_MAP), encoding="utf-8")
    (run / "probe.json").write_text(json.dumps(OLD_PROBE, indent=1), encoding="utf-8")
    torch.manual_seed(3)
    backbone = create_backbone(ModelConfig(backbone="small_cnn"), 1, 32)
    torch.save({"step": 4, "model": {f"encoder.{key}": value for key, value in backbone.state_dict().items()},
                "optimizer": {"state": {}, "param_groups": []}, "torch_rng": torch.get_rng_state(),
                "input_spec": OLD_INPUT_SPEC}, run / "checkpoints" / "step_00000004.pt")
    export = run / "exports" / "safetensors"
    export.mkdir(parents=True)
    (export / "encoder.json").write_text(json.dumps(OLD_ENCODER_JSON, indent=1), encoding="utf-8")
    save_file(NormalizedEncoder(backbone, [0.4712], [0.2281]).state_dict(), str(export / "encoder.safetensors"))
    return run


def test_every_artefact_of_an_older_run_folder_opens_as_version_1(old_run):
    folder = RunFolder(old_run)
    config = load_config(folder.config_path)
    assert list(config.tasks) == ["simclr"] and config.train.steps == 4 and config.model.backbone == "small_cnn"
    checkpoint = Checkpoint.load(folder.latest_checkpoint())
    assert checkpoint.step == 4 and checkpoint.input_spec == OLD_INPUT_SPEC
    assert set(checkpoint.model) == {f"encoder.{key}" for key in create_backbone(config.model, 1, 32).state_dict()}
    probe = ProbeResult.read(old_run / "probe.json")
    assert probe.rows[1] == ProbeRow("linear probe", 1.0, 1, 8, 4, 0.75, 0.75, [1.0, 0.5])
    assert probe.summary == OLD_PROBE["summary"] and probe.split == "split by image" and probe.knn_k == 3
    assert EmbeddingMap.read(old_run / "embedding_map.json").loss == [2.5, 3.25, None, 2.0]
    scan = ScanSummary.read(old_run / "scan_report.json")
    assert scan.labels == {"circle": 6, "square": 6} and scan.skipped[0]["reason"] == "not an image file"
    description = EncoderDescription.read(old_run / "exports" / "safetensors" / "encoder.json")
    assert description.format == "safetensors" and description.input["mean"] == [0.4712]


def test_the_apps_readers_still_work_on_an_older_run_folder(old_run):
    runs = list_runs(old_run.parent)
    assert [run.name for run in runs] == ["old-run"]
    assert run_status(runs[0].read_events()).describe() == "finished at step 4"
    html = build_report(old_run).read_text(encoding="utf-8")
    assert "encoder, 100% labels: 87.5% vs random init 50.0%" in html
    assert "shapes-demo" in html and "not an image file" in html and "step 4" in html
    old_export = load_encoder(old_run / "exports" / "safetensors")
    assert old_export.input_spec.step == 4 and old_export.input_spec.embed_dim == 256
    images = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        before = old_export(images)
    # exporting again from the older checkpoint writes a versioned encoder.json with the same weights
    new_export = load_encoder(export_run(old_run, "safetensors"))
    written = json.loads((old_run / "exports" / "safetensors" / "encoder.json").read_text(encoding="utf-8"))
    new, old = new_export.input_spec, old_export.input_spec
    assert written[FORMAT_KEY] == 1 and (new.input, new.embed_dim, new.step) == (old.input, old.embed_dim, old.step)
    assert {key: new.model[key] for key in old.model} == old.model  # now with the network's library and name
    with torch.no_grad():
        assert before.shape == (3, 256) and torch.allclose(new_export(images), before, atol=1e-6)


def test_each_json_artefact_round_trips(tmp_path):
    artefacts = [EmbeddingMap.from_json(OLD_EMBEDDING_MAP, "map"), ScanSummary.from_json(OLD_SCAN_REPORT, "scan"),
                 EncoderDescription.from_json(OLD_ENCODER_JSON, "spec"),
                 ProbeResult.of_rows([ProbeRow("kNN probe", 0.5, 0, 6, 4, 0.75, 0.5, [1.0, 0.0])], run="r", step=9,
                                     class_names=["a", "b"], tasks=["rotation"])]
    for artefact in artefacts:
        path = tmp_path / f"{type(artefact).__name__}.json"
        artefact.write(path)
        assert json.loads(path.read_text(encoding="utf-8"))[FORMAT_KEY] == 1
        assert type(artefact).read(path) == artefact
    assert EmbeddingMap.read(tmp_path / "absent.json") is None


def test_a_probe_result_summarises_its_rows_and_keeps_nan(tmp_path):
    rows = [ProbeRow("linear probe", 1.0, seed, 4, 2, accuracy, float("nan"), [accuracy])
            for seed, accuracy in enumerate((0.5, 1.0))]
    result = ProbeResult.of_rows(rows, step=3)
    result.write(tmp_path / "probe.json")
    back = ProbeResult.read(tmp_path / "probe.json")
    assert back.rows[0].method == "linear probe" and back.step == 3
    (entry,) = back.summary
    assert entry["accuracy"] == 0.75 and entry["accuracy_std"] == 0.25 and math.isnan(entry["balanced_accuracy"])


def test_a_checkpoint_round_trips_and_is_written_atomically(tmp_path):
    state = Checkpoint(7, {"encoder.weight": torch.randn(3, 2)}, {"state": {}, "param_groups": [{"lr": 0.1}]},
                       torch.get_rng_state(), dict(OLD_INPUT_SPEC))
    path = tmp_path / "checkpoints" / "step_00000007.pt"
    state.save(path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left beside it
    back = Checkpoint.load(path)
    assert back.step == 7 and back.optimizer == state.optimizer and back.input_spec == state.input_spec
    assert torch.equal(back.model["encoder.weight"], state.model["encoder.weight"])
    assert torch.equal(back.torch_rng, state.torch_rng)
    assert torch.load(path, weights_only=True)[FORMAT_KEY] == 1


def test_config_yaml_carries_its_version_and_round_trips(tmp_path):
    config = default_config()
    path = tmp_path / "config.yaml"
    save_config(config, path)
    assert path.read_text(encoding="utf-8").startswith("format_version: 1\n")
    loaded = load_config(path)
    loaded.output.out_dir = config.output.out_dir  # loaded paths are absolute
    assert loaded == config


NEWER = [(EmbeddingMap, "embedding_map.json", OLD_EMBEDDING_MAP), (ScanSummary, "scan_report.json", OLD_SCAN_REPORT),
         (ProbeResult, "probe.json", OLD_PROBE), (EncoderDescription, "encoder.json", OLD_ENCODER_JSON)]


@pytest.mark.parametrize("cls, name, record", NEWER, ids=[name for _, name, _ in NEWER])
def test_a_newer_json_artefact_is_refused_by_name(tmp_path, cls, name, record):
    path = tmp_path / name
    path.write_text(json.dumps({**record, FORMAT_KEY: 2}), encoding="utf-8")
    with pytest.raises(ArtefactError, match=rf"{name} was written by a newer Pretext Workbench \(format version 2; "
                                            r"this version reads up to 1\): update Pretext Workbench to open it"):
        cls.read(path)


def test_a_newer_checkpoint_config_or_probe_is_refused_by_the_apps_readers(old_run):
    checkpoint = old_run / "checkpoints" / "step_00000004.pt"
    state = torch.load(checkpoint, weights_only=True)
    torch.save({**state, FORMAT_KEY: 3}, checkpoint)
    with pytest.raises(CheckpointError, match=r"step_00000004\.pt was written by a newer .*format version 3"):
        export_run(old_run, "onnx")
    (old_run / "probe.json").write_text(json.dumps({**OLD_PROBE, FORMAT_KEY: 2}), encoding="utf-8")
    with pytest.raises(ArtefactError, match=r"probe\.json was written by a newer"):
        build_report(old_run)
    (old_run / "config.yaml").write_text(f"{FORMAT_KEY}: 2\n" + OLD_CONFIG_YAML, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"format_version: .*config\.yaml was written by a newer"):
        load_config(old_run / "config.yaml")


def test_an_artefact_missing_fields_names_them(tmp_path):
    path = tmp_path / "embedding_map.json"
    path.write_text(json.dumps({"step": 1, "points": []}), encoding="utf-8")
    with pytest.raises(ArtefactError, match=r"embedding_map\.json .*lacks labels, paths"):
        EmbeddingMap.read(path)
