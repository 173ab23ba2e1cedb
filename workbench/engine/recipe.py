"""A recipe for the data at hand: from a scan's facts and a time budget, the settings to change and why.

`plan` (pure) picks the task, backbone, image size, batch and augmentations from the facts (`DataFacts`, made from
a `ScanSummary`); `fit_budget` (pure) turns a measured speed into steps and an evaluation cadence; `suggest`
does both around one measurement: a few real training steps of the planned model at the planned size and batch
on this machine (`workbench.engine.bench.measure`). The result is a `Recipe`: config overrides as dotted keys,
each with a plain reason. `python main.py train --auto --budget 10m` and the Train page's "Suggest a recipe" use it.

The rules follow what an earlier session measured on two small labelled sets (a 2-core CPU, linear probe): the
default (SimCLR, 64 px, 400 steps) barely beat raw pixels; the best found was Barlow Twins at the images' own size
(never upsampled), no flips for digits, stronger crops and rotation, ~3,000 steps; and
published small-scale results: masked modelling, autoregression and jigsaw need tens of thousands of images,
contrastive learning and redundancy reduction work with a few thousand.
"""
from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from workbench.config import RunConfig, to_dict
from workbench.config.formats import JsonArtefact
from workbench.control import CancelToken, RunControl
from workbench.engine.budget import format_budget
from workbench.data.readers import PILLOW_EXTENSIONS
from workbench.data.scan_summary import ScanSummary
from workbench.tasks import config_from_dict

IMAGE_SIZES = (16, 24, 32, 48, 64, 96, 128, 160, 192, 224)
"""The sizes a recipe trains at: the largest of these that the images' shorter side reaches."""
MAX_SIZE = {"cpu": 64, "accelerator": 224}
"""The largest size a recipe proposes on a CPU and on a GPU (larger costs time the budget is better spent on)."""
BATCH = {"cpu": 128, "accelerator": 256}
BACKBONE = {"cpu": "small_cnn", "accelerator": "resnet18"}
MASKED_MODELLING_IMAGES = 20_000
"""Below this many images masked modelling, autoregression and jigsaw learn little: redundancy reduction is used."""
BARLOW_MIN_BATCH = 32
"""Barlow Twins' feature correlations are noisy in smaller batches: with fewer images, SimCLR is used."""
SYMBOL_SIDE = 32
"""Grayscale images this small (or smaller) are taken for digits or characters."""
RESERVE = 0.05
"""Share of the budget left for loading the data and writing checkpoints."""
EVALUATIONS = 10
"""Health checks (evaluations) over a run, when they fit `EVALUATION_SHARE` of the budget."""
EVALUATION_SHARE = 0.2
DEFAULT_WARMUP = 20
FEW_STEPS = 100
"""Fewer steps than this learn little: the recipe says so."""
UPSAMPLING_NOTED = 2.0
"""A run whose images are enlarged more than this many times gets a warning at its start (`misfits`)."""
MEASURED_STEPS, MEASURE_WARMUP = 3, 2
"""Timed and untimed training steps of the measurement."""
RECIPE_NAME = "recipe.json"


@dataclass(frozen=True)
class DataFacts:
    """What a recipe needs to know of the data: counts, the typical size, colour, and where the images come from."""

    images: int
    width: int
    height: int
    channels: int
    """1 (grayscale) or 3 (colour): what most images have."""
    volumes: int = 0
    medical: int = 0
    """Images read from DICOM or NIfTI files."""
    labelled: int = 0
    classes: int = 0

    @property
    def side(self) -> int:
        """The typical shorter side: what a square crop of a typical image keeps."""
        return min(self.width, self.height)

    @property
    def mostly_medical(self) -> bool:
        """Most images come from DICOM or NIfTI files, where left and right differ in anatomy (laterality)."""
        return self.medical > self.images / 2

    @classmethod
    def of(cls, summary: ScanSummary, medical: int = 0) -> "DataFacts":
        """The facts of a scan summary; `medical`: how many of its images came from DICOM or NIfTI files."""
        if summary.readable == 0 or summary.width is None or summary.height is None:
            raise ValueError(f"{summary.root_name}: no readable images to suggest a recipe for")
        colour = sum(count for channels, count in summary.channels.items() if channels != "1")
        return cls(images=summary.readable, width=int(summary.width["median"]), height=int(summary.height["median"]),
                   channels=3 if colour > summary.readable / 2 else 1, volumes=summary.volumes, medical=medical,
                   labelled=summary.readable - summary.unlabelled, classes=len(summary.labels or {}))

    @classmethod
    def of_report(cls, report: Any) -> "DataFacts":
        """The facts of a `ScanReport` (its summary, and which images are DICOM or NIfTI)."""
        return cls.of(ScanSummary.of(report), medical_images(report.images))


def medical_images(records) -> int:
    """How many scanned images (`ImageRecord`s) were read from DICOM or NIfTI files (not PNG, JPEG, TIFF, BMP)."""
    return sum(Path(record.path).suffix.lower() not in PILLOW_EXTENSIONS for record in records)


@dataclass(frozen=True)
class Choice:
    """Settings (dotted keys; "tasks" maps task names to weights) and the reason for them, in plain words."""

    settings: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Recipe(JsonArtefact):
    """The proposed settings with their reasons; `measured`: the speed the steps were computed from. A run
    trained on a recipe keeps it as `recipe.json` (`RECIPE_NAME`)."""

    INDENT: ClassVar[int | None] = 1

    choices: tuple[Choice, ...]
    budget_s: float = 0.0
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def overrides(self) -> dict[str, Any]:
        """Every proposed setting: dotted key -> value."""
        return {key: value for choice in self.choices for key, value in choice.settings.items()}

    def apply(self, config: RunConfig) -> RunConfig:
        """A validated copy of `config` with the recipe's settings (see `apply_settings`)."""
        return apply_settings(config, self.overrides)

    def lines(self) -> list[str]:
        """One line per choice: its settings, then why."""
        return [f"{settings_text(choice.settings)}: {choice.reason}" for choice in self.choices]

    @classmethod
    def from_json(cls, record, name) -> "Recipe":
        recipe = super().from_json(record, name)
        return replace(recipe, choices=tuple(Choice(**choice) for choice in recipe.choices))


def apply_settings(config: RunConfig, settings: dict[str, Any], registry_checks: bool = True) -> RunConfig:
    """A validated copy of `config` with `settings` (dotted keys such as "train.lr" or "tasks.simclr.temperature"
    -> value; ConfigError naming the field for a bad one; `registry_checks` as for `config_from_dict`). "tasks" maps task names to weights: the tasks become
    those (a task the config already had keeps its own settings, with the new weight); it is applied first, so
    a dotted key may then set one of the new tasks' settings."""
    tree = to_dict(config)
    if "tasks" in settings:
        tree["tasks"] = {name: {**copy.deepcopy(tree["tasks"].get(name) or {}), "weight": weight}
                         for name, weight in settings["tasks"].items()}
    for key, value in settings.items():
        if key == "tasks":
            continue
        *sections, name = key.split(".")
        node = tree
        for section in sections:
            node = node[section]
        node[name] = value
    return config_from_dict(tree, registry_checks)


def settings_text(settings: dict[str, Any]) -> str:
    """Settings as the recipe shows them: "model.backbone = small_cnn; ..." (tasks with their weights)."""
    parts = []
    for key, value in settings.items():
        if key == "tasks":
            value = ", ".join(f"{name} (weight {weight:g})" for name, weight in value.items())
        parts.append(f"{key} = {value}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Misfit:
    """A setting that goes against the data: `note` says why in words, `fitting` holds the recipe's values instead
    (dotted keys, for `apply_settings`) and `fix` says in a few words what they do ("use 16 px")."""

    note: str
    fitting: dict[str, Any]
    fix: str


def misfits(config: RunConfig, facts: DataFacts, device_type: str) -> list[Misfit]:
    """What in `config` goes against the data, with the recipe's settings instead: images enlarged more than
    `UPSAMPLING_NOTED` times, flips on DICOM/NIfTI images. Empty when neither (the values are the user's: this
    only says so, and the app offers the fitting values in one click)."""
    found, size = [], config.data.image_size
    if size > UPSAMPLING_NOTED * max(facts.side, IMAGE_SIZES[0]):
        fitting = image_size(facts.side, device_type)
        found.append(Misfit(f"The images are typically {facts.width}x{facts.height} px: data.image_size {size} "
                            f"enlarges them {size / facts.side:.0f}x, which trains slower and shows no more "
                            f"detail; the recipe (Suggest a recipe on Train & monitor, or train --auto) proposes "
                            f"{fitting} px", {"data.image_size": fitting}, f"use {fitting} px"))
    flips = [name for name in ("hflip_p", "vflip_p") if getattr(config.augment, name) > 0]
    if facts.mostly_medical and flips:
        found.append(Misfit(f"Flips (augment.{', augment.'.join(flips)}) on DICOM/NIfTI images: left and right "
                            "differ in anatomy, so a flipped view shows an image the scanner never makes; 0 keeps "
                            "laterality", {f"augment.{name}": 0.0 for name in flips}, "turn flips off"))
    return found


def machine_kind(device_type: str) -> str:
    """"cpu" or "accelerator" (CUDA, MPS) for a torch device type."""
    return "cpu" if device_type == "cpu" else "accelerator"


def image_size(side: int, device_type: str) -> int:
    """The size to train at: the largest supported size the images' shorter side reaches (so small images are never
    upsampled, except to the smallest size, 16), at most the machine's cap."""
    reached = [size for size in IMAGE_SIZES if size <= side] or [IMAGE_SIZES[0]]
    return min(reached[-1], MAX_SIZE[machine_kind(device_type)])


def plan(facts: DataFacts, device_type: str) -> list[Choice]:
    """The task, backbone, image size, batch and augmentations for the data (no measurement: a pure function)."""
    kind = machine_kind(device_type)
    return [_task_choice(facts, kind), _backbone_choice(kind, image_size(facts.side, device_type)),
            _size_choice(facts, device_type), _batch_choice(facts, kind), *_augment_choices(facts)]


def _task_choice(facts: DataFacts, kind: str) -> Choice:
    count = f"{facts.images:,} images"
    if facts.images < BARLOW_MIN_BATCH:
        return Choice({"tasks": {"simclr": 1.0}},
                      f"only {count}: batches cannot reach the {BARLOW_MIN_BATCH} images Barlow Twins needs; "
                      "SimCLR (contrastive) learns from small batches")
    if facts.images < MASKED_MODELLING_IMAGES:
        return Choice({"tasks": {"barlow_twins": 1.0}},
                      f"{count}: redundancy reduction (Barlow Twins) learns from a few thousand images; "
                      "masked modelling, autoregression and jigsaw need tens of thousands")
    also = " (with a ViT on a GPU)" if kind == "accelerator" else ""
    return Choice({"tasks": {"barlow_twins": 1.0}},
                  f"{count}: redundancy reduction (Barlow Twins) was the best measured on small sets and scales "
                  f"well; with this many images masked modelling (MAE{also}) is worth a try too")


def _backbone_choice(kind: str, size: int) -> Choice:
    if kind == "cpu":
        return Choice({"model.backbone": BACKBONE[kind]},
                      "on a CPU the small CNN trains many times faster than ResNet-18: more steps fit the budget")
    settings = {"model.backbone": BACKBONE[kind], "model.small_image_stem": size <= 96}
    stem = "with the small-image stem (3x3, no max-pool)" if size <= 96 else "with the standard stem"
    return Choice(settings, f"a GPU trains ResNet-18 fast enough; {stem} for {size} px images")


def _size_choice(facts: DataFacts, device_type: str) -> Choice:
    size = image_size(facts.side, device_type)
    shape = f"images are typically {facts.width}x{facts.height}"
    if facts.side < IMAGE_SIZES[0]:
        why = f"{shape}: trained at {size} px (the smallest size), not upsampled further"
    elif size < min(facts.side, MAX_SIZE[machine_kind(device_type)]):
        why = f"{shape}: trained at {size} px, the largest supported size they reach (never upsampled)"
    elif size == MAX_SIZE[machine_kind(device_type)] and facts.side > size:
        where = "a CPU" if device_type == "cpu" else "a GPU"
        why = f"{shape}: trained at {size} px, the most that pays off on {where} within a time budget"
    else:
        why = f"{shape}: trained at their own size, {size} px, not upsampled"
    return Choice({"data.image_size": size}, why)


def _batch_choice(facts: DataFacts, kind: str) -> Choice:
    batch = BATCH[kind]
    if facts.images < batch:
        return Choice({"train.batch_size": batch},
                      f"batches of {batch} asked for; with {facts.images:,} images each batch holds all of them")
    machine = "a CPU" if kind == "cpu" else "a GPU"
    return Choice({"train.batch_size": batch},
                  f"{batch} images a step: enough for Barlow Twins' correlations (at least {BARLOW_MIN_BATCH}), "
                  f"quick on {machine}")


def _augment_choices(facts: DataFacts) -> list[Choice]:
    if facts.mostly_medical:
        series = f" in {facts.volumes:,} volume{'s' * (facts.volumes != 1)}" if facts.volumes else ""
        return [
            Choice({"augment.hflip_p": 0.0, "augment.vflip_p": 0.0},
                   f"DICOM/NIfTI images{series}: no flips, left and right differ in anatomy (laterality is kept)"),
            Choice({"augment.rotation_degrees": 10.0, "augment.crop_scale_min": 0.4},
                   "rotation up to ±10° as patient positioning varies; crops keep at least 40% of the image so "
                   "small findings survive in both views"),
        ]
    if facts.channels == 1 and facts.side <= SYMBOL_SIDE:
        return [
            Choice({"augment.hflip_p": 0.0, "augment.vflip_p": 0.0},
                   f"small grayscale images ({facts.width}x{facts.height}) look like digits or characters: no "
                   "flips, a mirrored symbol is another symbol"),
            Choice({"augment.rotation_degrees": 15.0, "augment.crop_scale_min": 0.2},
                   "stronger crops (down to 20% of the image) and rotation up to ±15° make the two views differ "
                   "enough on such small images"),
        ]
    if facts.channels == 1:
        return [
            Choice({"augment.hflip_p": 0.0, "augment.vflip_p": 0.0},
                   "grayscale images are most often scans or documents, where left and right differ: no flips "
                   "(turn them on for microscopy, where orientation means nothing)"),
            Choice({"augment.rotation_degrees": 10.0}, "rotation up to ±10° for the small tilts of real images"),
        ]
    return [Choice({"augment.hflip_p": 0.5, "augment.vflip_p": 0.0},
                   "colour images (photos, slides): horizontal flips kept, a mirrored photo shows the same things")]


def fit_budget(budget_s: float, images_per_second: float, evaluation_s: float, batch_size: int,
               facts: DataFacts) -> list[Choice]:
    """Steps, warm-up and evaluation cadence for `budget_s` seconds, from the measured whole-step speed and the
    measured time of one health check (a pure function). Health checks take at most `EVALUATION_SHARE` of the
    budget; what is left after them and the `RESERVE` goes to steps, so the steps grow with the budget."""
    if budget_s <= 0:
        raise ValueError(f"the time budget must be above 0 seconds, got {budget_s}")
    if images_per_second <= 0 or evaluation_s < 0:
        raise ValueError(f"the measured speeds must be above 0, got {images_per_second} images/s and "
                         f"{evaluation_s} s per health check")
    batch = min(batch_size, facts.images)
    steps_per_second = images_per_second / batch
    checks = EVALUATIONS if evaluation_s == 0 else max(1, min(EVALUATIONS, int(
        budget_s * EVALUATION_SHARE / evaluation_s) - 1))
    training_s = budget_s * (1 - RESERVE) - (checks + 1) * evaluation_s  # +1: the check before the first step
    steps = max(1, int(training_s * steps_per_second))
    warmup = min(DEFAULT_WARMUP, steps // 10)
    epochs = steps * batch / facts.images
    few = f" Only {steps:,} steps fit: expect little learning; give it more time." if steps < FEW_STEPS else ""
    speed = (f"~{steps_per_second:.1f} steps/s on this machine ({images_per_second:,.0f} images/s at batch {batch}, "
             f"measured): {steps:,} steps (~{epochs:,.{0 if epochs >= 10 else 1}f} epochs) fit {format_budget(budget_s)} with the health "
             "checks." + few)
    every = max(1, steps // checks)
    labels = (f"each includes kNN accuracy on the {facts.classes} labelled classes" if facts.classes >= 2 else
              "no labels: they watch the loss, the embedding spread and the effective rank")
    fewer = (f" (fewer than {EVALUATIONS}: they may take at most {EVALUATION_SHARE:.0%} of the budget)"
             if checks < EVALUATIONS else "")
    return [Choice({"train.steps": steps, "train.warmup_steps": warmup}, speed),
            Choice({"eval.every_steps": every},
                   f"a health check ({evaluation_s:.1f} s each, measured) every {every:,} steps, "
                   f"{min(checks, steps)} over the run{fewer}; {labels}")]


def propose(facts: DataFacts, device_type: str, budget_s: float, images_per_second: float,
            evaluation_s: float) -> Recipe:
    """The whole recipe for the data, a budget and the measured speeds (a pure function)."""
    choices = plan(facts, device_type)
    batch = Recipe(tuple(choices)).overrides["train.batch_size"]
    return Recipe(tuple(choices + fit_budget(budget_s, images_per_second, evaluation_s, batch, facts)), budget_s,
                  {"device": device_type, "images_per_second": round(images_per_second, 1),
                   "evaluation_s": round(evaluation_s, 3)})


def measure_speed(config: RunConfig) -> float:
    """Whole-step images/s of `config` on this machine (`workbench.engine.bench.measure`): a few real training steps
    on its data, which also fill the decoded cache at its image size, so the run that follows loads quickly."""
    from workbench.engine.bench import measure

    return measure(config, steps=MEASURED_STEPS, rounds=1, warmup=MEASURE_WARMUP)["whole_step"]


def measure_evaluation(config: RunConfig) -> float:
    """Seconds one health check of `config` takes on this machine: a real run, in a temporary folder, stopped as
    it starts, makes only the evaluation every run makes before its first step; timed from its events."""
    from workbench.engine.events import FailedEvent, StartedEvent
    from workbench.engine.trainer import Trainer

    control = RunControl()
    times: list[float] = []

    def on_event(event) -> None:
        times.append(time.perf_counter())
        if isinstance(event, StartedEvent):
            control.cancel()  # honoured before the first step, after the evaluation

    with tempfile.TemporaryDirectory() as folder:
        final = Trainer(config, run_dir=Path(folder) / "run", control=control).run(on_event)
    if isinstance(final, FailedEvent):
        raise ValueError(final.message)
    return times[-2] - times[0]  # from the start to the evaluation's last event (the last is the stop)


def suggest(config: RunConfig, budget_s: float, report: Any = None, cancel: CancelToken | None = None) -> Recipe:
    """The recipe for `config`'s data and `budget_s` seconds: its scan `report` (scanned here when None), the plan
    timed on this machine (a few real steps, one health check), and the steps that fit the budget."""
    from workbench.engine.device import resolve_device

    if budget_s <= 0:
        raise ValueError(f"the time budget must be above 0 seconds, got {budget_s}")
    if report is None:
        report = scan(config, cancel)
    facts = DataFacts.of_report(report)
    device_type = resolve_device(config.train.device).type
    draft = Recipe(tuple(plan(facts, device_type))).apply(config)
    speeds = []
    for measure in (measure_speed, measure_evaluation):
        if cancel is not None:
            cancel.raise_if_cancelled()
        speeds.append(measure(draft))
    return propose(facts, device_type, budget_s, *speeds)


def scan(config: RunConfig, cancel: CancelToken | None = None) -> Any:
    """The scan report of `config`'s dataset folder (the demo dataset when empty)."""
    from workbench.data import dataset_folder, scan_folder

    return scan_folder(dataset_folder(config.data), config.data, cancel=cancel).report


