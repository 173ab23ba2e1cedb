"""Continued pretraining from a starting weights file: frozen stages stay bit-identical (BatchNorm statistics
included), layer-wise learning-rate decay gives each stage its share of the rate, teacher-student tasks start
with the teacher equal to the loaded student, and the probe table gets a starting-weights row."""
import math
from pathlib import Path

import pytest
import torch

from engine_helpers import tiny_config, tiny_dataset
from workbench.config.schema import ModelConfig
from workbench.control import RunControl
from workbench.engine.checkpoint import Checkpoint
from workbench.engine.events import FailedEvent, FinishedEvent, NoteEvent, StepEvent, WarningEvent
from workbench.engine.runs import RunFolder
from workbench.engine.param_groups import encoder_stages, parameter_groups, starting_weights_notes
from workbench.engine.schedule import learning_rate
from workbench.engine.trainer import Trainer
from workbench.models import create_backbone
from workbench.probes.context import open_run
from workbench.probes.probe import KNN, LINEAR, RANDOM_LINEAR, STARTING_KNN, STARTING_LINEAR, probe_context
from workbench.probes.report import build_report
from workbench.probes.table import ProbeResult, format_table
from workbench.tasks import load_config

SIZE = 16
FROZEN_PREFIXES = {"small_cnn": ("body.0.", "body.1."), "resnet18": ("body.conv1.", "body.bn1.", "body.layer1.")}
"""The encoder's state under its first 2 stages: the small CNN's first two conv blocks, a ResNet's stem + layer1."""
DECAY = 0.5


def _weights_file(folder: Path, backbone: str) -> Path:
    """A starting weights file: a freshly built encoder (another seed than the run's own initialisation)."""
    torch.manual_seed(123)
    encoder = create_backbone(ModelConfig(backbone=backbone), 1, SIZE)
    path = folder / f"{backbone}-start.pt"
    torch.save(encoder.state_dict(), path)
    return path


def _config(data: Path, out: Path, backbone: str, weights: Path, steps: int = 3, tasks=None, **train):
    return tiny_config(data, out, data={"image_size": SIZE, "channels": 1}, model={"backbone": backbone,
                       "init_weights": str(weights)}, tasks=tasks or {"simclr": {}},
                       train={"steps": steps, "log_every": 1, "checkpoint_every": 100, **train},
                       eval={"every_steps": 2})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("data"), per_class=6, size=SIZE)


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """(run folder, weights file) of a 3-step SimCLR run per backbone, the first 2 stages frozen, decay 0.5."""
    made = {}

    def run(backbone: str):
        if backbone not in made:
            folder = tmp_path_factory.mktemp(backbone)
            weights = _weights_file(folder, backbone)
            trainer = Trainer(_config(data, folder / "runs", backbone, weights, freeze_stages=2,
                                      layer_lr_decay=DECAY))
            assert isinstance(trainer.run(), FinishedEvent)
            made[backbone] = trainer.run_dir, weights
        return made[backbone]

    return run


def _final_checkpoint(run_dir: Path) -> Checkpoint:
    return Checkpoint.load(sorted((run_dir / "checkpoints").glob("*.pt"))[-1])


@pytest.mark.parametrize("backbone", ["small_cnn", "resnet18"])
def test_frozen_stages_stay_bit_identical_with_their_batchnorm_statistics(runs, backbone):
    run_dir, weights = runs(backbone)
    start = torch.load(weights, weights_only=True)
    trained = {key[len("encoder."):]: value for key, value in _final_checkpoint(run_dir).model.items()
               if key.startswith("encoder.")}
    frozen = [key for key in start if key.startswith(FROZEN_PREFIXES[backbone])]
    assert any(key.endswith("running_mean") for key in frozen) and any(key.endswith("weight") for key in frozen)
    for key in frozen:  # weights, biases, running mean/var and batch counts alike
        assert torch.equal(trained[key], start[key]), key
    free = [key for key in start if key not in frozen and key.endswith("weight")]
    assert any(not torch.equal(trained[key], start[key]) for key in free)  # the other stages did train


def test_each_stage_learns_at_its_decayed_share_of_the_rate(runs):
    run_dir, _ = runs("small_cnn")
    groups = _final_checkpoint(run_dir).optimizer["param_groups"]
    # heads first at the full rate; the 4 stages of the small CNN, the first 2 frozen: stage i at 0.5^(4 - i)
    assert [group["lr_scale"] for group in groups] == [1.0, DECAY ** 2, DECAY]
    assert [len(group["params"]) for group in groups[1:]] == [3, 3]  # conv weight, BatchNorm weight and bias
    train = load_config(RunFolder(run_dir).config_path).train
    last = learning_rate(train.steps - 1, train.steps, train.lr, train.warmup_steps)
    for group in groups:
        assert group["lr"] == pytest.approx(last * group["lr_scale"])
    logged = [event.values["lr"] for event in RunFolder(run_dir).read_events() if isinstance(event, StepEvent)]
    assert logged[-1] == pytest.approx(last)  # the log shows the scheduled rate, the heads' one


def test_stages_of_the_built_in_and_timm_backbones():
    counts = {}
    for backbone in ("small_cnn", "resnet18", "vit_tiny", "timm/resnet18"):
        encoder = create_backbone(ModelConfig(backbone=backbone), 1, SIZE)
        stages = encoder_stages(encoder)
        assert sum(map(len, stages)) == len(list(encoder.parameters()))  # every parameter in one stage
        counts[backbone] = len(stages)
    assert counts == {"small_cnn": 4, "resnet18": 5, "vit_tiny": 13, "timm/resnet18": 5}
    vit = create_backbone(ModelConfig(backbone="vit_tiny"), 1, SIZE)
    head = torch.nn.Linear(vit.embed_dim, 4)
    groups = parameter_groups([*vit.parameters(), *head.parameters()], vit, 0.75)
    members = [{id(param) for param in group["params"]} for group in groups]
    assert members[0] == {id(param) for param in head.parameters()} and groups[0]["lr_scale"] == 1.0
    assert groups[1]["lr_scale"] == pytest.approx(0.75 ** 13)  # the patch embedding, as in BEiT
    assert id(vit.body.conv_proj.weight) in members[1] and id(vit.body.encoder.ln.weight) in members[-1]
    assert groups[-1]["lr_scale"] == 0.75 and len(groups) == 14
    single = parameter_groups(list(vit.parameters()), vit, 1.0)
    assert len(single) == 1 and list(single[0]) == ["params"]  # decay off: one group, as before


def test_freezing_the_whole_encoder_is_refused_naming_the_setting(data, tmp_path):
    weights = _weights_file(tmp_path, "small_cnn")
    event = Trainer(_config(data, tmp_path / "runs", "small_cnn", weights, freeze_stages=4)).run()
    assert isinstance(event, FailedEvent) and "train.freeze_stages: 4" in event.message and "at most 3" in event.message


def test_the_from_scratch_rate_with_starting_weights_gets_a_note_at_the_start(runs, data):
    run_dir, weights = runs("small_cnn")
    warnings = [event for event in RunFolder(run_dir).read_events() if isinstance(event, WarningEvent)]
    assert warnings and warnings[0].step == 0 and "about 10x lower (0.0002)" in warnings[0].message
    notes = [event for event in RunFolder(run_dir).read_events()
             if isinstance(event, NoteEvent) and event.message.startswith("started from")]
    assert [note.step for note in notes] == [0] and notes[0].message.startswith(f"started from {weights.name} (sha256 ")
    lower = _config(data, run_dir, "small_cnn", weights, lr=2e-4)
    assert starting_weights_notes(lower) == []
    assert "warm-up" in " ".join(starting_weights_notes(_config(data, run_dir, "small_cnn", weights, lr=2e-4,
                                                                  warmup_steps=0)))
    scratch = tiny_config(data, run_dir, train={"lr": 2e-4, "freeze_stages": 1})
    assert "random initialisation" in " ".join(starting_weights_notes(scratch))


@pytest.mark.parametrize("task, copy", [("dino", "teacher_encoder"), ("byol", "target_encoder"),
                                         ("moco", "key_encoder")])
def test_the_momentum_copy_equals_the_loaded_student_at_step_0(data, tmp_path, task, copy):
    weights = _weights_file(tmp_path, "small_cnn")
    trainer = Trainer(_config(data, tmp_path / "runs", "small_cnn", weights, tasks={task: {}}))
    trainer.prepare()
    start = torch.load(weights, weights_only=True)
    student = trainer.model.encoder.state_dict()
    follower = getattr(trainer.model.tasks[task], copy).state_dict()
    for key, value in start.items():
        assert torch.equal(student[key], value) and torch.equal(follower[key], value), key


def test_dino_from_starting_weights_starts_sharp_and_finite(data, tmp_path):
    weights = _weights_file(tmp_path, "small_cnn")
    dino = {"out_dim": 64, "local_crops": 1, "head_hidden_dim": 32, "head_bottleneck_dim": 16}
    trainer = Trainer(_config(data, tmp_path / "runs", "small_cnn", weights, steps=2, tasks={"dino": dino},
                              lr=2e-4, freeze_stages=1))
    assert isinstance(trainer.run(), FinishedEvent)
    steps = [event.values for event in trainer.folder.read_events() if isinstance(event, StepEvent)]
    assert len(steps) == 2
    for values in steps:
        assert math.isfinite(values["loss"])
        assert 0.0 < values["dino/teacher_entropy"] < math.log(64) - 0.1  # neither one prototype nor uniform
    # the frozen first stage is the starting weights' in the student and the teacher alike, BatchNorm included
    start, trained = torch.load(weights, weights_only=True), _final_checkpoint(trainer.run_dir).model
    for key in (key for key in start if key.startswith("body.0.")):
        assert torch.equal(trained[f"encoder.{key}"], start[key]) and \
            torch.equal(trained[f"tasks.dino.teacher_encoder.{key}"], start[key]), key


def test_the_probe_table_has_a_starting_weights_row(runs):
    run_dir, weights = runs("small_cnn")
    context = open_run(run_dir, device="cpu")
    start = torch.load(weights, weights_only=True)
    assert all(torch.equal(context.starting_encoder().encoder.state_dict()[key], value) for key, value in start.items())
    probe_context(context, [1.0], seeds=1, finetune=False, supervised=False)
    record = ProbeResult.read(run_dir / "probe.json")
    methods = [entry["method"] for entry in record.summary]
    assert methods[:5] == [LINEAR, KNN, STARTING_LINEAR, STARTING_KNN, RANDOM_LINEAR]
    table = format_table(record)
    assert "starting weights, linear" in table and "starting weights, kNN" in table
    html = build_report(run_dir).read_text()
    assert "starting weights, linear" in html and "before pretraining" in html


def test_a_run_resumes_where_its_starting_weights_file_is_gone(data, tmp_path):
    """The checkpoint holds the weights: a run handed to another machine resumes without the starting file."""
    weights = _weights_file(tmp_path, "small_cnn")
    control = RunControl()
    trainer = Trainer(_config(data, tmp_path / "runs", "small_cnn", weights, steps=4, checkpoint_every=2),
                      control=control)
    trainer.run(lambda event: isinstance(event, StepEvent) and event.step == 2 and control.cancel())
    weights.unlink()
    final = Trainer(run_dir=trainer.run_dir, resume=True).run()
    assert isinstance(final, FinishedEvent) and final.step == 4 and not final.stopped
