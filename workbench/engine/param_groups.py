"""Continued pretraining: the encoder's stages, freezing the first ones, and layer-wise learning-rate decay.

An encoder's parameters fall into stages, from the input on: the stem (a ResNet's conv1 and bn1, a ViT's patch
embedding, class token and position embedding), then one stage per ResNet layer, per ViT block (its final
norm belongs to the last block) or per small-CNN conv block. timm networks name their stages themselves
(`group_matcher(coarse=True)`); the torchvision ones are described here in the same form; a body that is an
`nn.Sequential` (the small CNN) has one stage per child, as its children run in order.
"""
from __future__ import annotations

import torch
from torch import nn

from workbench.config import RunConfig, TrainConfig
from workbench.models.torchvision_nets import ResNetFamily, VitFamily

LR_SCALE = "lr_scale"
"""A parameter group's share of the scheduled learning rate (absent = 1)."""
_TORCHVISION_STAGES = (
    (ResNetFamily, {"stem": r"^conv1|^bn1", "blocks": r"^layer(\d+)"}),
    (VitFamily, {"stem": r"^class_token|^conv_proj|^encoder\.pos_embedding",
                 "blocks": [(r"^encoder\.layers\.encoder_layer_(\d+)", None),
                            (r"^encoder\.ln", (99999,))]}),  # (99999,): joins the previous stage
)
"""Stages of torchvision's networks, as timm's group matchers give them: regexes over parameter names."""


def _stage_matcher(encoder: nn.Module):
    body = encoder.body
    if hasattr(body, "group_matcher"):  # every timm network
        return body.group_matcher(coarse=True)
    for family, matcher in _TORCHVISION_STAGES:
        if isinstance(encoder.family, family):
            return matcher
    if isinstance(body, nn.Sequential):
        return lambda name: int(name.split(".", 1)[0])
    raise ValueError(f"train.freeze_stages and train.layer_lr_decay need an encoder whose stages are known; "
                     f"a {type(body).__name__} has none (1.0 and 0 turn them off)")


def encoder_stages(encoder: nn.Module) -> list[list[nn.Parameter]]:
    """The parameters of `encoder.body` in stages, from the input on (see the module docstring)."""
    from timm.models import group_parameters

    body = encoder.body
    params = dict(body.named_parameters())
    groups = group_parameters(body, _stage_matcher(encoder))
    return [[params[name] for name in names] for _, names in sorted(groups.items())]


def freeze_first_stages(encoder: nn.Module, count: int) -> None:
    """Keep the encoder's first `count` stages as they are: no gradients, and their BatchNorm layers in
    evaluation mode whatever mode the model is put in, so their running statistics stay fixed too."""
    if count == 0:
        return
    stages = encoder_stages(encoder)
    if count >= len(stages):
        raise ValueError(f"train.freeze_stages: {count} would freeze the whole encoder, which has {len(stages)} "
                         f"stages; at most {len(stages) - 1}")
    for stage in stages[:count]:
        for param in stage:
            param.requires_grad_(False)
    for module in encoder.modules():
        own = list(module.parameters(recurse=False))
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and own and not any(p.requires_grad for p in own):
            module.register_forward_pre_hook(_hold_in_eval)


def _hold_in_eval(module: nn.Module, inputs) -> None:
    module.train(False)


def parameter_groups(trainable: list[nn.Parameter], encoder: nn.Module, decay: float) -> list[dict]:
    """The optimiser's parameter groups over `trainable`, each parameter once and in its order within a group.

    With `decay` 1.0, one group. Else layer-wise decay (as in BEiT / MAE fine-tuning): stage i of the encoder's
    D stages learns at decay^(D - i) times the scheduled rate (its group's `LR_SCALE`), so the stages nearest
    the input, which hold the most general features, change least; everything else (the tasks' heads) learns
    at the full rate, in the first group.
    """
    if decay == 1.0:
        return [{"params": trainable}]
    stages = encoder_stages(encoder)
    depth = len(stages)
    stage_of = {id(param): i for i, stage in enumerate(stages) for param in stage}
    members: dict[int, list[nn.Parameter]] = {}
    for param in trainable:
        members.setdefault(stage_of.get(id(param), depth), []).append(param)
    return [{"params": members[i], LR_SCALE: decay ** (depth - i)} for i in (depth, *range(depth)) if i in members]


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group its share (`LR_SCALE`) of the scheduled rate `lr`."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get(LR_SCALE, 1.0)


def scheduled_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The scheduled rate `set_learning_rate` last gave (the heads' rate)."""
    group = optimizer.param_groups[0]
    return group["lr"] / group.get(LR_SCALE, 1.0)


def starting_weights_notes(config: RunConfig) -> list[str]:
    """Advice for a run's start when its optimisation settings do not suit its starting weights (or their
    absence); empty when they do."""
    train, weights = config.train, bool(config.model.init_weights)
    notes = []
    if weights and train.lr >= TrainConfig().lr:
        notes.append(f"Starting weights (model.init_weights) with train.lr {train.lr:g}, the rate for training "
                     f"from scratch: a learning rate about 10x lower ({train.lr / 10:g}) keeps what they know; "
                     "train.layer_lr_decay (e.g. 0.75) and train.freeze_stages change the stages near the input "
                     "less, or not at all.")
    if weights and train.warmup_steps == 0:
        notes.append("Starting weights with no warm-up (train.warmup_steps 0): the tasks' heads start random and "
                     "their first gradients reach the starting weights at the full rate; a warm-up of about 5% of "
                     "the steps protects them.")
    if train.freeze_stages and not weights:
        notes.append(f"train.freeze_stages keeps the encoder's first {train.freeze_stages} stage(s) at their "
                     "random initialisation: without starting weights (model.init_weights) that is rarely wanted.")
    return notes
