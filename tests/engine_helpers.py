"""Shared set-up for engine tests: a tiny labelled dataset and a tiny, fast config."""
from pathlib import Path

from workbench.data.demo import write_demo_dataset
from workbench.tasks import config_from_dict


def tiny_dataset(folder: Path, per_class: int = 6, size: int = 32) -> Path:
    write_demo_dataset(folder, per_class=per_class, size=size, seed=1)
    return folder


def with_a_131_png_per_class(folder: Path) -> Path:
    """Rename one image of each class folder to 131.png: file names alone no longer tell images apart."""
    for class_folder in sorted(path for path in Path(folder).iterdir() if path.is_dir()):
        sorted(class_folder.glob("*.png"))[0].rename(class_folder / "131.png")
    return folder


def tiny_config(data_root: Path, out_dir: Path, **sections):
    """A config that trains in about a second: small CNN, 32 px, batch 8."""
    data = {
        "data": {"root": str(data_root), "image_size": 32},
        "tasks": {"simclr": {}},
        "train": {"steps": 8, "batch_size": 8, "log_every": 2, "checkpoint_every": 4, "warmup_steps": 1,
                  "precision": "fp32", "device": "cpu"},
        "eval": {"every_steps": 4, "subset_size": 24, "knn_k": 3},
        "output": {"out_dir": str(out_dir)},
    }
    for section, values in sections.items():
        data.setdefault(section, {})
        if section == "tasks":
            data[section] = values
        else:
            data[section].update(values)
    return config_from_dict(data)


def task_settings(name: str, folder: Path) -> dict:
    """Settings with which the shipped task `name` trains with nothing else prepared: its defaults, except for
    distillation, which needs a teacher's weights file (a random small CNN's, written into `folder`)."""
    if name != "distillation":
        return {}
    import torch

    from workbench.config import ModelConfig
    from workbench.models import create_backbone

    path = Path(folder) / "teacher.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(create_backbone(ModelConfig(backbone="small_cnn"), 1, 32).state_dict(), path)
    return {"teacher_backbone": "small_cnn", "teacher_weights": str(path)}


def shipped_tasks() -> list[str]:
    """The registered tasks that ship (built in, or plugins from the plugin folders), without those that tests
    register for themselves (e.g. a task that fakes running out of memory)."""
    from workbench.tasks import registered_tasks

    return sorted(name for name, task in registered_tasks().items()
                  if task.__module__.startswith(("workbench.", "workbench_plugin_")))
