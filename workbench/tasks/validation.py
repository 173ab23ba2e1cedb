"""The rules that need the registries: which backbone exists and of which kind, what each task needs of it,
and each task's own rules (`PretextTask.config_problems`: e.g. an image large enough for its tiles). Config-only rules live in `workbench.config.io.cross_field_problems`; loading, the CLI and the app's
check before Start all go through `workbench.tasks.validate_config` / `load_config`, which apply both."""
from __future__ import annotations

from workbench.config import RunConfig
from workbench.models import backbone_kind, backbone_names, backbone_patch_size, backbone_problem
from workbench.tasks.registry import registered_tasks


def registry_problems(config: RunConfig) -> list[tuple[str, str]]:
    """(field, message) for every rule of the backbone and task registries that `config` breaks."""
    model = config.model
    unknown = backbone_problem(model.backbone)
    if unknown:
        return [("model.backbone", unknown)]
    kind = backbone_kind(model.backbone)
    patch = backbone_patch_size(model)
    problems = []
    if patch and config.data.image_size % patch:
        if patch == model.patch_size and model.backbone in backbone_names():
            problems.append(("model.patch_size", f"must divide data.image_size ({config.data.image_size}), "
                                                 f"got {model.patch_size}"))
        else:  # a timm ViT: its patch comes with the architecture
            problems.append(("data.image_size", f"must be a multiple of {model.backbone}'s patch size {patch}, "
                                                f"got {config.data.image_size}"))
    tasks = registered_tasks()
    for name in config.tasks:
        problem = tasks[name].backbone_problem(kind) if name in tasks else None
        if problem:
            problems.append((f"tasks.{name}", f"{problem} (model.backbone is {model.backbone})"))
    if problems:  # the tasks' own rules assume a backbone they can train, with a patch size that fits
        return problems
    for name, settings in config.tasks.items():
        if name in tasks:
            problems.extend(tasks[name].config_problems(settings, config, kind))
    return problems
