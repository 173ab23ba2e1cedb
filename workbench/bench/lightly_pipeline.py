"""The peer's pipeline, built from lightly's own parts, for the side-by-side benchmark.

lightly's transforms (SimCLRTransform, BYOLTransform) run per image on PIL images in a torch DataLoader,
its heads and losses sit on the same encoder we train (torchvision ResNet-18 with the small-image stem,
or our small CNN), and the step follows lightly's examples (each view forwarded on its own; BYOL's
momentum networks updated at the start of the step on lightly's cosine schedule). What is kept equal to
ours: the images (our decoded cache, as PIL images of the same size, so no file decoding is counted),
the augmentation settings, the head sizes, the temperature, the optimiser, learning-rate schedule and
gradient clipping, the batch size, torch threads and precision. lightly is an optional extra (`bench`).
"""
from __future__ import annotations

import contextlib
import copy

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from workbench.bench.quality import knn_quality
from workbench.bench.spec import BenchSpec
from workbench.config import AugmentConfig, RunConfig
from workbench.data import BatchAugmenter, ImageDataset, load_dataset
from workbench.engine.allocator import keep_freed_memory
from workbench.engine.bench import images_per_second
from workbench.engine.device import autocast, default_cpu_threads, resolve_device
from workbench.engine.schedule import learning_rate
from workbench.models import create_backbone


def lightly_available() -> bool:
    """Whether the optional `lightly` package can be imported."""
    try:
        import lightly  # noqa: F401
    except ImportError:
        return False
    return True


class PILImages(Dataset):
    """Cached images as RGB PIL images, passed through a lightly transform (which returns the views)."""

    def __init__(self, dataset: ImageDataset, transform) -> None:
        if dataset.images.dtype != torch.uint8:
            raise ValueError("the lightly pipeline takes 8-bit images")
        pixels = dataset.images.permute(0, 2, 3, 1).numpy()
        self.images = [Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).convert("RGB")
                       for array in pixels]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(self.images[index])


def view_settings(augment: AugmentConfig, image_size: int, mean: list[float], std: list[float]) -> dict:
    """lightly view-transform arguments that match our augmentation settings."""
    return {"input_size": image_size, "cj_prob": augment.color_jitter_p, "cj_strength": 1.0,
            "cj_bright": augment.brightness, "cj_contrast": augment.contrast, "cj_sat": augment.saturation,
            "cj_hue": augment.hue, "min_scale": augment.crop_scale_min, "random_gray_scale": augment.grayscale_p,
            "gaussian_blur": augment.blur_p, "sigmas": (0.1, augment.blur_sigma_max), "vf_prob": augment.vflip_p,
            "hf_prob": augment.hflip_p, "rr_prob": 1.0 if augment.rotation_degrees > 0 else 0.0,
            "rr_degrees": augment.rotation_degrees or None, "normalize": {"mean": mean, "std": std}}


def make_transform(task: str, settings: dict):
    """lightly's two-view transform for `task`, with our augmentation settings."""
    from lightly.transforms import BYOLTransform, BYOLView1Transform, BYOLView2Transform, SimCLRTransform

    if task == "simclr":
        return SimCLRTransform(**settings)
    if task == "byol":
        return BYOLTransform(BYOLView1Transform(**settings, solarization_prob=0.0),
                             BYOLView2Transform(**settings, solarization_prob=0.0))
    raise ValueError(f"the lightly pipeline has SimCLR and BYOL, not {task!r}")


class LightlySimCLR(nn.Module):
    """Encoder + lightly's SimCLRProjectionHead; loss: lightly's NTXentLoss."""

    def __init__(self, encoder: nn.Module, task_cfg) -> None:
        super().__init__()
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        self.backbone = encoder
        self.projection_head = SimCLRProjectionHead(encoder.embed_dim, task_cfg.projector_hidden_dim,
                                                    task_cfg.projector_out_dim)
        self.criterion = NTXentLoss(temperature=task_cfg.temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_head(self.backbone(x))

    def loss(self, views: list[torch.Tensor], step: int, total_steps: int) -> torch.Tensor:
        return self.criterion(self(views[0]), self(views[1]))


class LightlyBYOL(nn.Module):
    """Encoder + lightly's BYOL heads and momentum copies; loss: lightly's NegativeCosineSimilarity."""

    def __init__(self, encoder: nn.Module, task_cfg) -> None:
        super().__init__()
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        hidden, out = task_cfg.projector_hidden_dim, task_cfg.projector_out_dim
        self.backbone = encoder
        self.projection_head = BYOLProjectionHead(encoder.embed_dim, hidden, out)
        self.prediction_head = BYOLPredictionHead(out, hidden, out)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)
        self.criterion = NegativeCosineSimilarity()
        self.momentum_base = task_cfg.momentum_base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prediction_head(self.projection_head(self.backbone(x)))

    def forward_momentum(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_head_momentum(self.backbone_momentum(x)).detach()

    def loss(self, views: list[torch.Tensor], step: int, total_steps: int) -> torch.Tensor:
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        momentum = cosine_schedule(step, total_steps, self.momentum_base, 1.0)
        update_momentum(self.backbone, self.backbone_momentum, m=momentum)
        update_momentum(self.projection_head, self.projection_head_momentum, m=momentum)
        x0, x1 = views
        p0, z0 = self(x0), self.forward_momentum(x0)
        p1, z1 = self(x1), self.forward_momentum(x1)
        return 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))


MODELS = {"simclr": LightlySimCLR, "byol": LightlyBYOL}


class LightlyRun:
    """A prepared lightly training run: `step()` does one optimiser step on the next loader batch."""

    def __init__(self, config: RunConfig, task: str, precision: str, loader_workers: int = 0,
                 dataset: ImageDataset | None = None) -> None:
        train = config.train
        torch.set_num_threads(train.threads or default_cpu_threads())  # the same threads as our trainer
        torch.manual_seed(train.seed)
        self.config, self.precision = config, precision
        self.device = resolve_device(train.device)
        self.dataset = dataset or load_dataset(config.data)
        if self.dataset.channels != 3:
            raise ValueError("lightly's transforms are for RGB images: set data.channels to 3")
        self.batch_size = min(train.batch_size, len(self.dataset))
        settings = view_settings(config.augment, config.data.image_size, self.dataset.mean, self.dataset.std)
        self.loader = DataLoader(PILImages(self.dataset, make_transform(task, settings)),
                                 batch_size=self.batch_size, shuffle=True, drop_last=True,
                                 num_workers=loader_workers, persistent_workers=loader_workers > 0,
                                 pin_memory=self.device.type == "cuda",
                                 generator=torch.Generator().manual_seed(train.seed))
        encoder = create_backbone(config.model, 3, config.data.image_size)
        self.model = MODELS[task](encoder, config.tasks[task]).to(self.device)
        # given bf16, lightly also gets our memory format: the difference left is the data path; its usual
        # recipe (fp32) keeps torch's default layout
        self.channels_last = precision == "bf16"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=train.lr, weight_decay=train.weight_decay)
        self.normalize = BatchAugmenter(config.augment, 3, config.data.image_size, self.dataset.mean,
                                        self.dataset.std).normalize  # for the kNN probe, as the transforms do
        self.step_count = 0
        self._batches = self._endless()

    def _endless(self):
        while True:
            yield from self.loader

    def _to_device(self, view: torch.Tensor) -> torch.Tensor:
        view = view.to(self.device, non_blocking=True)
        return view.contiguous(memory_format=torch.channels_last) if self.channels_last else view

    def step(self) -> None:
        """One optimiser step, scheduled like ours (warm-up, cosine decay, gradient clipping)."""
        train = self.config.train
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step_count, train.steps, train.lr, train.warmup_steps)
        views = [self._to_device(view) for view in next(self._batches)]
        with autocast(self.device, self.precision):
            loss = self.model.loss(views, self.step_count, train.steps)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.params, train.grad_clip)
        self.optimizer.step()
        self.step_count += 1


def run_lightly(spec: BenchSpec) -> dict:
    """"speed": images/s of lightly's whole step; "quality": kNN accuracy after `spec.steps` steps."""
    run = LightlyRun(spec.run_config(), spec.task, spec.precision, spec.loader_workers)
    # given bf16, lightly also gets our allocator settings (as it gets our memory format); its usual recipe not
    with keep_freed_memory() if spec.precision == "bf16" else contextlib.nullcontext():
        if spec.mode == "speed":
            return {"images_per_second": images_per_second(run.step, spec.steps, spec.warmup, run.batch_size,
                                                           run.device)}
        for _ in range(spec.steps):
            run.step()
    return knn_quality(run.model.backbone, run.dataset, run.normalize, run.config, run.device)
