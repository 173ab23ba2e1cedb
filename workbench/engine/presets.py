"""Named starting points for a run, shared by the CLI (`--preset`) and the GUI's preset menu."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from workbench.config import DataConfig, RunConfig
from workbench.tasks import default_config, get_task


def _with_tasks(config: RunConfig, *names: str) -> RunConfig:
    config.tasks = {name: get_task(name).Config() for name in names}
    return config


def quick_cpu_demo() -> RunConfig:
    """SimCLR on the small CNN at 64 px: curves move within a minute on a laptop CPU."""
    config = _with_tasks(default_config(), "simclr")
    config.train.steps = 300
    config.train.batch_size = 128
    config.eval.every_steps = 25
    # small findings (a nodule, a cavity) must survive the crop for the views to share them
    config.augment.crop_scale_min = 0.4
    config.augment.rotation_degrees = 10.0
    return config


def contrastive_simclr() -> RunConfig:
    """SimCLR on ResNet-18 (small-image stem): the classic contrastive recipe."""
    config = _with_tasks(default_config(), "simclr")
    config.model.backbone = "resnet18"
    config.train.steps = 2000
    config.train.batch_size = 256
    return config


def self_distillation_byol() -> RunConfig:
    """BYOL: an EMA teacher and a predictor, no negatives needed."""
    config = _with_tasks(default_config(), "byol")
    config.model.backbone = "resnet18"
    config.train.steps = 2000
    config.train.lr = 1e-3
    return config


def rotation_puzzle() -> RunConfig:
    """Rotation prediction: a quick classic puzzle, good as a sanity check."""
    config = _with_tasks(default_config(), "rotation")
    config.train.steps = 500
    return config


PRESETS: dict[str, Callable[[], RunConfig]] = {
    "Quick CPU demo": quick_cpu_demo,
    "Contrastive (SimCLR)": contrastive_simclr,
    "Self-distillation (BYOL)": self_distillation_byol,
    "Rotation prediction": rotation_puzzle,
}


def preset_config(name: str) -> RunConfig:
    """A fresh config for the preset `name` (case-insensitive; spaces or dashes alike)."""
    wanted = _key(name)
    for preset_name, make in PRESETS.items():
        if _key(preset_name) == wanted:
            return make()
    raise KeyError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


#: The built-in demo datasets: 'scans' (PNG images of four classes) and 'ct' (DICOM series in HU).
DEMO_DATASETS = ("scans", "ct")


def use_demo_data(data: DataConfig, demo: str) -> DataConfig:
    """`data` pointed at a built-in demo dataset (generated on first use); the CT series get the soft-tissue
    window, so they look and train as a radiologist would first read them."""
    if demo == "scans":
        return replace(data, root="")
    if demo == "ct":
        from workbench.data import demo_ct_dataset_dir

        return replace(data, root=str(demo_ct_dataset_dir()), dicom_window="soft_tissue")
    raise KeyError(f"unknown demo dataset {demo!r}; demos: {', '.join(DEMO_DATASETS)}")
