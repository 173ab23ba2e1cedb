"""The training loop: a plain object that emits events and honours pause / resume / cancel between steps."""
from __future__ import annotations

import math
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from workbench.config import RunConfig, save_config
from workbench.config.paths import relative_path
from workbench.control import CancelledError, RunControl
from workbench.data import BatchAugmenter, ImageDataset, load_dataset
from workbench.data.scan import MIN_TRAINING_IMAGES
from workbench.engine import distributed
from workbench.engine.allocator import keep_freed_memory
from workbench.engine.batch_context import batch_contexts
from workbench.engine.best_checkpoint import BestKeeper
from workbench.engine.checkpoint import Checkpoint, CheckpointError
from workbench.engine.device import (autocast, compile_in_place, default_cpu_threads, precision_label,
                                     resolve_device, resolve_precision, uses_channels_last)
from workbench.engine.evaluation import VIEW_IMAGES, augmented_views, choose_eval_subset, embed, health_values
from workbench.engine.heartbeat import Heartbeat
from workbench.engine.health import CollapseDetector, DimensionalCollapseDetector, DivergenceDetector
from workbench.engine.embedding_map import MAP_NAME, write_embedding_map
from workbench.engine.external_logs import with_external_logs
from workbench.data.scan_summary import SCAN_REPORT_NAME, ScanSummary
from workbench.engine.inspection import per_image_losses, render_examples
from workbench.engine.events import (CheckpointEvent, EmbeddingMapEvent, EvalEvent, Event, EventHandler,
                                     FailedEvent, FinishedEvent, PausedEvent, StartedEvent, StepEvent,
                                     TaskExamplesEvent, TASK_LOSS, VerdictEvent, WarningEvent, NoteEvent,
                                     task_value_key)
from workbench.engine.model import MultiTaskModel
from workbench.engine.param_groups import (parameter_groups, scheduled_learning_rate, set_learning_rate,
                                         starting_weights_notes)
from workbench.engine.prefetch import StepPrefetcher, StepViews, ViewDrawer, prefetch_helps
from workbench.engine.recipe import DataFacts, misfits
from workbench.engine.runs import RunFolder, new_run_dir
from workbench.engine.schedule import learning_rate
from workbench.engine.task_examples import write_task_examples
from workbench.engine.verdict import COLLAPSE_ADVICE, RANK_ADVICE, VerdictJudge
from workbench.models import backbone_kind
from workbench.tasks import load_config
from workbench.tasks.pooling import recorded_pooling

EVAL_VIEWS_SEED = 104729
MAP_LOSS_SEED = 130363
EXAMPLE_IMAGES = 4
"""Images of the evaluation subset shown by the tasks' examples."""
GPU_CACHE_SHARE = 0.5
"""Hold the decoded images on the GPU when they take at most this share of its free memory."""


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite."""


class NonFiniteGradients(RuntimeError):
    """The gradients were NaN or infinite for `MAX_SKIPPED_STEPS` steps in a row."""


MAX_SKIPPED_STEPS = 10
"""Steps in a row whose gradients may be NaN or infinite (each skipped, the weights kept) before the run stops."""


@dataclass
class StepWindow:
    """Sums over the steps since the last StepEvent (kept as tensors on the device: no host sync per step)."""

    loss: torch.Tensor | None = None
    task_losses: dict[str, torch.Tensor] | None = None
    task_metrics: dict[str, torch.Tensor] | None = None
    finite: torch.Tensor | None = None
    steps: int = 0
    skipped: int = 0
    """Steps whose optimiser update was skipped: their gradients were NaN or infinite."""
    started: float = 0.0

    def reset(self) -> None:
        self.loss = self.task_losses = self.task_metrics = self.finite = None
        self.steps = self.skipped = 0
        self.started = time.perf_counter()


class Trainer:
    """Trains one run. Construct it, then call `run(on_event)`; another thread may pause or cancel via `control`.

    With `resume=True`, `run_dir` names an existing run folder whose config and latest checkpoint are used.
    A restarted job (`continue_run=True`, or restarted by torchrun or SLURM) continues its run folder from the last
    checkpoint when there is one, else starts it over.
    """

    def __init__(self, config: RunConfig | None = None, run_dir: str | Path | None = None,
                 control: RunControl | None = None, resume: bool = False,
                 dataset: ImageDataset | None = None, continue_run: bool = False):
        if resume:
            if run_dir is None:
                raise ValueError("resume needs the run folder to continue")
            folder = RunFolder(run_dir)
            if not folder.exists():
                raise FileNotFoundError(f"{run_dir} is not a run folder (no config.yaml)")
            config = load_config(folder.config_path)
        if config is None:
            raise ValueError("a config is needed to start a run")
        self.config = config
        self.control = control or RunControl()
        self.resume = resume
        self._dataset = dataset
        self.dist = distributed.init_distributed(config.train.device)
        path = str(run_dir) if run_dir else str(new_run_dir(config.output.out_dir, config.output.name,
                                                              list(config.tasks), distributed.job_id()))
        self.run_dir = Path(distributed.broadcast_text(path, self.dist))
        self.folder = RunFolder(self.run_dir)
        restarted = continue_run or distributed.restart_count(self.dist) > 0
        self._restarted = restarted and not resume and self.folder.exists()
        if self._restarted and self.folder.latest_checkpoint() is not None:  # a restarted job
            self.resume, self.config = True, load_config(self.folder.config_path)
        self._made_run_dir = not self.run_dir.exists()
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.step = 0
        self._last_checkpoint: Path | None = None

    # ----------------------------------------------------------------- public
    def run(self, on_event: EventHandler | None = None) -> Event:
        """Train to the end (or until stopped); returns the final FinishedEvent or FailedEvent. Meanwhile the
        run folder's heartbeat tells readers of the folder that it is being trained."""
        with Heartbeat(self.run_dir) if self.dist.is_main else nullcontext():
            return self._train(on_event)

    def _train(self, on_event: EventHandler | None) -> Event:
        self._on_event = with_external_logs(self.config, self.run_dir, on_event or (lambda event: None))
        try:
            self.prepare()
            with keep_freed_memory():
                return self._loop()
        except NonFiniteLoss:
            return self._fail(f"The loss became NaN or infinite at step {self.step}: training diverged. "
                              "Try a lower learning rate, stronger gradient clipping or fp32 precision.")
        except NonFiniteGradients:
            return self._fail(f"The gradients were NaN or infinite for {MAX_SKIPPED_STEPS} steps in a row, up to "
                              f"step {self.step + 1} (each step was skipped, the weights kept). Try fp32 precision or "
                              "a lower learning rate.")
        except torch.cuda.OutOfMemoryError:
            smaller = max(2, self.config.train.batch_size // 2)
            return self._fail(f"The GPU ran out of memory at step {self.step} with batch size "
                              f"{self.config.train.batch_size}. Try train.batch_size: {smaller}, or a smaller "
                              "image size or backbone.")
        except CancelledError:
            return self._emit(FinishedEvent(self.step, str(self.run_dir), stopped=True))
        except (CheckpointError, ValueError, FileNotFoundError) as error:
            return self._fail(str(error))
        except OSError as error:
            reason = error.strerror or str(error)
            return self._fail(f"Could not write to the run folder at step {self.step}: {reason}. Free some disk "
                              "space (or choose another runs folder) and resume the run.")
        except Exception as error:
            self._fail(f"Unexpected error: {type(error).__name__}: {error}")
            raise
        finally:
            distributed.shutdown(self.dist)

    # ------------------------------------------------------------ preparation
    def prepare(self) -> None:
        """Load the data, build the model and optimiser, restore a checkpoint when resuming."""
        cfg = self.config
        torch.set_num_threads(cfg.train.threads or default_cpu_threads())
        torch.manual_seed(cfg.train.seed + self.dist.rank)
        self.device = resolve_device(cfg.train.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.precision = resolve_precision(cfg.train.precision, self.device)

        with distributed.node_leader_first(self.dist):  # the decoded cache is built once per node
            dataset = self._dataset or load_dataset(cfg.data, cancel=self.control)
        self.dataset = dataset
        if len(dataset) < MIN_TRAINING_IMAGES:
            raise ValueError(f"the dataset has {len(dataset)} readable image(s); training needs at least "
                             f"{MIN_TRAINING_IMAGES}")
        self.batch_size = min(cfg.train.batch_size, len(dataset) // self.dist.world_size)
        if self.batch_size < 2:
            raise ValueError(f"{len(dataset)} images cannot be split into batches of at least 2 images "
                             f"on {self.dist.world_size} processes")
        self.images = self._place_images(dataset.images)
        self.labels = dataset.labels

        # resuming: the checkpoint holds the weights, so the starting weights' file is neither read nor needed
        # (a run handed to a cluster resumes there without it)
        built = replace(cfg, model=replace(cfg.model, init_weights="")) if self.resume else cfg
        self.model = MultiTaskModel(built, dataset.channels).to(self.device)
        self.channels_last = backbone_kind(cfg.model.backbone) == "conv" and uses_channels_last(cfg.train.channels_last,
                                                                                          self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if cfg.train.compile:
            compile_in_place(self.model.encoder, self.device)
        self.optimizer = self._make_optimizer()
        self.augmenter = BatchAugmenter(cfg.augment, dataset.channels, cfg.data.image_size, dataset.mean,
                                        dataset.std, colour=not dataset.stacked_slices)
        self.contexts = batch_contexts(self.model, dataset, self.images, self.device, self.augmenter.normalize)
        self.draw_views = ViewDrawer(self.augmenter, self.device, cfg.train.seed, self.dist.rank, self.channels_last)
        self.prefetch = prefetch_helps(cfg.train.prefetch, self.device, torch.get_num_threads())
        self.eval_subset = choose_eval_subset(self.labels, cfg.eval.subset_size, cfg.eval.knn_test_fraction,
                                              cfg.train.seed, dataset.groups)
        self.trained = (DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                if self.device.type == "cuda" else None)
                        if self.dist.enabled else self.model)
        if self.resume:
            self._restore()
        elif self.dist.is_main:
            if self._restarted:  # restarted before its first checkpoint: the run starts over
                self.folder.metrics_path.unlink(missing_ok=True)
            save_config(cfg, self.folder.config_path)
            self._write_scan_report()
        history = self.folder.read_events() if self.resume else []  # a resumed run's record counts for both
        self._judge = VerdictJudge(list(cfg.tasks), cfg.train.warmup_steps, history)
        self._collapse = CollapseDetector(COLLAPSE_ADVICE[self._judge.family], history)
        self._narrowing = DimensionalCollapseDetector(RANK_ADVICE[self._judge.family], history)
        self._divergence = DivergenceDetector(cfg.train.warmup_steps)
        self._skipped_in_a_row = 0
        self._best = BestKeeper(self.folder, self.step if self.resume else None) if self.dist.is_main else None

    def numeric_path(self) -> str:
        """The precision and layout training runs in, for the user: e.g. "bf16 autocast, channels-last"."""
        precision = precision_label(self.precision)
        return f"{precision}, channels-last" if self.channels_last else precision

    def _place_images(self, images: torch.Tensor) -> torch.Tensor:
        """Decoded images where the step reads them fastest: on the GPU when they fit, else pinned."""
        if self.device.type != "cuda":
            return images
        free, _ = torch.cuda.mem_get_info(self.device)
        if images.numel() * images.element_size() <= GPU_CACHE_SHARE * free:
            return images.to(self.device)
        return images.pin_memory()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        train = self.config.train
        params = parameter_groups(self.model.trainable_parameters(), self.model.encoder, train.layer_lr_decay)
        if train.optimizer == "sgd":
            return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)
        return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)

    def _write_scan_report(self) -> None:
        ScanSummary.of(self.dataset.report).write(self.run_dir / SCAN_REPORT_NAME)

    # ------------------------------------------------------------ checkpoints
    def _checkpoint(self) -> Checkpoint:
        return Checkpoint(self.step, self.model.state_dict(), self.optimizer.state_dict(), torch.get_rng_state(),
                          self.input_spec())

    def input_spec(self) -> dict:
        """What an exported encoder needs to know about its input (no paths, no patient data)."""
        data = self.config.data
        return {"backbone": self.config.model.backbone, "embed_dim": int(self.model.encoder.embed_dim),
                "channels": int(self.dataset.channels), "image_size": int(data.image_size),
                "mean": [float(v) for v in self.dataset.mean], "std": [float(v) for v in self.dataset.std],
                "pixel_range": 255.0 if self.dataset.images.dtype == torch.uint8 else 65535.0,
                "dicom_window": data.dicom_window, "window_center": data.window_center,
                "window_width": data.window_width, "context_slices": data.context_slices,
                "slices_per_volume": data.slices_per_volume, "min_foreground": data.min_foreground,
                "class_names": list(self.dataset.class_names), "tasks": list(self.config.tasks),
                "pooling": self.model.encoder.pooling, **self._starting_weights()}

    def _starting_weights(self) -> dict:
        """The starting weights' file name and SHA-256 as read when the run began (never their path)."""
        report = self.model.encoder.weights_report
        return {"starting_weights": {"file": report.name, "sha256": report.sha256}} if report else {}

    def _save_checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        path = self.folder.checkpoint_path(self.step)
        self._checkpoint().save(path)
        self._last_checkpoint = path
        self._emit(CheckpointEvent(self.step, str(path)))

    def _restore(self) -> None:
        path = self.folder.latest_checkpoint()
        if path is None:
            raise FileNotFoundError(f"{self.run_dir} has no checkpoint to resume from")
        state = Checkpoint.load(path, map_location=self.device)
        self.model.load_state_dict(state.model)
        self.model.encoder.pooling = recorded_pooling(state.input_spec)  # a run keeps the embedding it began with
        self.optimizer.load_state_dict(state.optimizer)
        torch.set_rng_state(state.torch_rng.cpu())
        self.step = state.step
        self._last_checkpoint = path
        if self.dist.is_main:
            self.folder.truncate_events_after(self.step)
            self.folder.remove_unfinished_checkpoints()

    # ------------------------------------------------------------------- loop
    def _loop(self) -> Event:
        cfg = self.config
        total = cfg.train.steps
        self._emit(StartedEvent(str(self.run_dir), self.step, total, str(self.device), self.numeric_path(),
                                len(self.dataset), int(self.dataset.num_labelled)))
        self._emit(NoteEvent(self.step, f"Files decoded: {self.dataset.files_decoded}, read from the decoded cache: "
                                        f"{self.dataset.files_from_cache}"))
        if self.step == 0:
            misfit = [found.note for found in misfits(cfg, DataFacts.of_report(self.dataset.report), self.device.type)]
            for note in [*starting_weights_notes(cfg), *misfit, distributed.restart_hazard()]:
                if note:
                    self._emit(WarningEvent(0, note))
            if self.model.encoder.weights_report:  # what was read and adapted, e.g. a first conv summed to gray
                self._emit(NoteEvent(0, self.model.encoder.weights_report.summary()))
            self._evaluate()  # the random-init reference level
        window = StepWindow()
        window.reset()
        run_started, run_start_step = time.perf_counter(), self.step
        steps = self.step_inputs()
        while self.step < total:
            if self.control.paused:
                self._emit(PausedEvent(self.step, True))
                self.control.wait_while_paused()
                self._emit(PausedEvent(self.step, False))
                window.reset()
            if self.control.cancelled:
                return self._finish(stopped=True)
            indices, images, augment = next(steps)
            self.train_step(indices, augment, window, images)
            self.step += 1
            at_end = self.step == total
            if self.step % cfg.train.log_every == 0 or at_end:
                self._log(window, run_started, run_start_step)
                window.reset()
            if self.step % cfg.eval.every_steps == 0 or at_end:
                self._evaluate()
            if self.step % cfg.train.checkpoint_every == 0 and not at_end:
                self._check_finite(window)  # never save weights that a NaN step has spoiled
                self._save_checkpoint()
        return self._finish(stopped=False)

    def batches(self):
        """Index batches for this rank, epoch after epoch; each epoch's order depends only on (seed, epoch)."""
        n, world = len(self.dataset), self.dist.world_size
        per_epoch = n // (self.batch_size * world)
        epoch, position = divmod(self.step, per_epoch)
        while True:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.config.train.seed + epoch))
            shard = order[self.dist.rank::world]
            for i in range(position, per_epoch):
                yield shard[i * self.batch_size:(i + 1) * self.batch_size]
            epoch, position = epoch + 1, 0

    def step_inputs(self) -> StepPrefetcher:
        """(indices, images on the device, augment) of each step from this one on; with `self.prefetch`, the
        next step's are made on a background thread while this one trains (the same views either way)."""
        return StepPrefetcher(self.batches(), self._load_batch, self.draw_views, self.step, self.prefetch)

    def _load_batch(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at `indices` on the training device, without waiting for the GPU: gathered there when the
        decoded images live on it, else gathered into pinned memory and copied asynchronously."""
        if self.images.device.type == self.device.type:
            return self.images[indices.to(self.images.device, non_blocking=True)]
        batch = torch.empty((len(indices), *self.images.shape[1:]), dtype=self.images.dtype,
                            pin_memory=self.images.is_pinned())
        torch.index_select(self.images, 0, indices, out=batch)
        return batch.to(self.device, non_blocking=True)

    def train_step(self, indices: torch.Tensor, augment=None, window: StepWindow | None = None,
                   images: torch.Tensor | None = None) -> None:
        """One optimiser step on the images at `indices` (`images`: those already on the device); views come
        from `augment` (default: this step's views from the augmenter)."""
        cfg = self.config.train
        set_learning_rate(self.optimizer, learning_rate(self.step, cfg.steps, cfg.lr, cfg.warmup_steps))
        if images is None:
            images = self._load_batch(indices)
        context = self.contexts(indices) if self.contexts is not None else None
        with autocast(self.device, self.precision):
            loss, outputs = self.trained(images, augment or StepViews(self.draw_views, self.step, images), context)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.model.trainable_parameters(), cfg.grad_clip or math.inf)
        if torch.isfinite(norm):  # a host sync, as a gradient scaler's: one bad backward pass must not ruin the weights
            self.optimizer.step()
            self._skipped_in_a_row = 0
        else:
            self._skipped_in_a_row += 1
            if window is not None:
                window.skipped += 1
            if self._skipped_in_a_row >= MAX_SKIPPED_STEPS:
                raise NonFiniteGradients()
        self.model.on_step_end(self.step, cfg.steps)
        if window is not None:
            self._accumulate(window, loss.detach(), outputs)

    @staticmethod
    def _accumulate(window: StepWindow, loss: torch.Tensor, outputs) -> None:
        finite = torch.isfinite(loss)
        window.finite = finite if window.finite is None else window.finite & finite
        window.loss = loss if window.loss is None else window.loss + loss
        task_values = {task_value_key(name, TASK_LOSS): out.loss.detach().float() for name, out in outputs.items()}
        metrics = {task_value_key(name, key): value.detach().float() for name, out in outputs.items()
                   for key, value in out.metrics.items()}
        for attr, values in (("task_losses", task_values), ("task_metrics", metrics)):
            current = getattr(window, attr)
            setattr(window, attr, values if current is None else {k: current[k] + v for k, v in values.items()})
        window.steps += 1

    def _log(self, window: StepWindow, run_started: float, run_start_step: int) -> None:
        if window.steps == 0:
            return
        self._check_finite(window)
        elapsed = time.perf_counter() - window.started
        images_per_second = window.steps * self.batch_size * self.dist.world_size / max(elapsed, 1e-9)
        values = {"loss": float(window.loss) / window.steps,
                  "lr": scheduled_learning_rate(self.optimizer),
                  "images_per_second": images_per_second}
        if len(self.config.tasks) > 1:
            values.update({k: float(v) / window.steps for k, v in window.task_losses.items()})
        values.update({k: float(v) / window.steps for k, v in window.task_metrics.items()})
        done_steps = self.step - run_start_step
        seconds_per_step = (time.perf_counter() - run_started) / max(done_steps, 1)
        eta = seconds_per_step * (self.config.train.steps - self.step)
        self._judge.add(self._emit(StepEvent(self.step, self._epoch(), self.config.train.steps, values, eta)))
        if window.skipped:
            self._emit(WarningEvent(self.step, f"{window.skipped} of the last {window.steps} step(s) skipped: their "
                                               f"gradients were NaN or infinite ({self.numeric_path()}); the weights "
                                               "were kept. If it keeps happening, try fp32 precision."))
        warning = self._divergence.check(self.step, values["loss"])
        if warning:
            self._emit(WarningEvent(self.step, warning))

    @staticmethod
    def _check_finite(window: StepWindow) -> None:
        if window.finite is not None and not bool(window.finite):  # a host sync: only at log/checkpoint steps
            raise NonFiniteLoss()

    def _epoch(self) -> float:
        return self.step * self.batch_size * self.dist.world_size / len(self.dataset)

    def _evaluate(self) -> None:
        if not self.dist.is_main:
            return
        subset = self.eval_subset
        images = self.images[subset.indices.to(self.images.device)]
        embed_batch = max(self.batch_size, 64)
        context = lambda: autocast(self.device, self.precision)  # noqa: E731
        embeddings = embed(self.model.encoder, images, self.augmenter.normalize, self.device, embed_batch, context)
        # augmented views for LiDAR and alignment, from a generator of their own: training's random stream is untouched
        seeded = torch.Generator(device=self.device).manual_seed(self.config.train.seed + EVAL_VIEWS_SEED)
        views = augmented_views(self.model.encoder, images[:VIEW_IMAGES], lambda x: self.augmenter(x, seeded),
                                self.device, embed_batch, context)
        values = health_values(embeddings, self.labels[subset.indices], subset, self.config.eval.knn_k, views)
        if not all(math.isfinite(v) for v in values.values()):
            raise NonFiniteLoss()
        evaluation = self._emit(EvalEvent(self.step, self._epoch(), values))
        self._judge.add(evaluation)
        self._best.offer(self.step, values, self._checkpoint)  # a new best is saved now, between checkpoints too
        self._write_map(embeddings, embed_batch, context)
        self._write_task_examples(images[:EXAMPLE_IMAGES])
        for warning in (self._collapse.check(self.step, values["embedding_std"]),
                        self._narrowing.check(evaluation)):
            if warning:
                self._emit(WarningEvent(self.step, warning))
        verdict = self._judge.verdict()
        if verdict:
            self._emit(VerdictEvent(self.step, verdict.verdict, verdict.message))

    def _write_map(self, embeddings: torch.Tensor, batch_size: int, precision) -> None:
        """The embedding map of the evaluation subset, with each image's pretext loss from one no-grad pass.

        Not under torchrun: the main process evaluates alone, and a task that syncs across processes in its
        step would wait for the others."""
        subset, cfg = self.eval_subset, self.config
        views = torch.Generator(device=self.device).manual_seed(cfg.train.seed + MAP_LOSS_SEED)
        losses = None if self.dist.enabled else per_image_losses(
            self.model, self.images, subset.indices, lambda x: self.augmenter(x, views), batch_size,
            cfg.train.seed + MAP_LOSS_SEED, precision, self.contexts)
        map_path = self.run_dir / MAP_NAME
        records = [self.dataset.report.images[i] for i in subset.indices.tolist()]
        write_embedding_map(map_path, self.step, embeddings, self.labels[subset.indices], records,
                            self.dataset.class_names, losses, cfg.eval.map_method, cfg.train.seed)
        self._emit(EmbeddingMapEvent(self.step, str(map_path)))

    def _write_task_examples(self, images: torch.Tensor) -> None:
        """The tasks' example images (input, masked input, reconstruction...), the same images and masks
        at each evaluation so that they can be compared."""
        rendered = render_examples(self.model, images, self.augmenter.normalize, self.config.train.seed)
        if rendered:
            path = write_task_examples(self.run_dir, self.step, rendered)
            self._emit(TaskExamplesEvent(self.step, str(path)))

    # ------------------------------------------------------------------- ends
    def _finish(self, stopped: bool) -> Event:
        self._save_checkpoint()
        return self._emit(FinishedEvent(self.step, str(self.run_dir), stopped))

    def _fail(self, message: str) -> Event:
        """Stop with `message`, which names the dataset as the user gave it; the run folder's record names it
        only relative to the run folder. A run that failed before its config was written leaves no folder."""
        checkpoint = str(self._last_checkpoint) if self._last_checkpoint else None
        if checkpoint:
            message += f" The last good checkpoint is kept: {Path(checkpoint).name}."
        event = FailedEvent(self.step, message, checkpoint)
        root = self.config.data.root
        recorded = replace(event, message=message.replace(root, relative_path(root, str(self.run_dir)))) \
            if root else event
        if self.dist.is_main and self._made_run_dir and not self.folder.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)
        return self._emit(event, recorded)

    def _emit(self, event: Event, recorded: Event | None = None) -> Event:
        """Tell the listener of `event` and append it (or its `recorded` form) to the run folder's metrics."""
        if self.dist.is_main:
            try:
                if self.folder.exists():
                    self.folder.append_event(recorded or event)
            except OSError:
                pass  # a full disk must not hide the event from the user; the checkpoint holds the state
            self._on_event(event)
        return event
