"""Try one image on a run: its predicted class and its nearest images in the run's dataset.

`ImagePredictor.open(run_dir)` embeds the run's dataset once (cancellable, with progress) and gets a
linear head: the exported classifier's head when `export-classifier` wrote one for this checkpoint, else
one trained now on the labelled embeddings (L-BFGS, about a second). With a single labelled class the
prediction is a vote of the nearest labelled images; without labels there is no prediction, only
neighbours. `predict(path)` then answers a `Prediction`, which also says whether the image is out of
distribution (`workbench.probes.familiarity`): far from all the dataset's images, where the class is a guess.

One of the dataset's own images (the same file and frame) is embedded from its cached row: exactly what
training saw, 2.5-D neighbours included. Any other file is read with the engine's readers (same window,
resize and quantisation as the cache). With 2.5-D input (`data.context_slices`), its slice is stacked by
the training rule: its folder (with its subfolders) is loaded as a dataset (`load_dataset`: volumes grouped,
ordered and windowed as in training, every slice kept) and its row there is used. A plain 2-D image fills every channel, as in
training. `Prediction.stacking` says where the channels came from, and says so plainly when the neighbours
of a slice were not found.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from workbench.control import CancelToken, Progress
from workbench.data import ImageDataset, UnreadableImage, load_dataset, read_frames
from workbench.data.augment import to_unit
from workbench.data.cache import convert_frame
from workbench.data.records import ImageRecord
from workbench.data.frame import Frame
from workbench.data.scan import frame_square, quantize
from workbench.metrics.embedding import KNN_TEMPERATURE, weighted_votes
from workbench.metrics.linear_probe import LinearHead, train_linear_head
from workbench.probes.classifier_export import FILES, FOLDER
from workbench.probes.context import EMBED_BATCH, RunContext, embed_images, open_run
from workbench.probes.familiarity import Familiarity, TrainingSpread

DEFAULT_NEIGHBOURS = 8


@dataclass(frozen=True)
class ClassScore:
    name: str
    probability: float


@dataclass(frozen=True)
class Neighbour:
    """One of the dataset's images near the tried one; `similarity` is the cosine of their embeddings."""

    index: int
    record: ImageRecord
    similarity: float

    @property
    def label(self) -> str | None:
        return self.record.label


@dataclass(frozen=True)
class Prediction:
    """What the run's encoder makes of one image.

    `classes`: every class, most probable first (empty when the dataset has no labels). `method`: how the
    probabilities were made, in plain words. `pixels`: the frame as the encoder saw it, float (S, S, C)
    in [0, 1] (the middle channel of a 2.5-D stack). `frame` of `frames`: which frame of the file was used.
    `familiarity`: how far the image lies from the dataset's images; when out of distribution, `classes` are
    the head's guess on an image unlike any it was trained on. `stacking`: with 2.5-D input, where the
    image's channels came from, in a few words ("" without 2.5-D input); it says when a slice's neighbours
    were not found and its own slice fills every channel.
    """

    classes: list[ClassScore]
    neighbours: list[Neighbour]
    familiarity: Familiarity
    method: str
    pixels: np.ndarray
    frame: int
    frames: int
    stacking: str = ""

    @property
    def best(self) -> ClassScore | None:
        return self.classes[0] if self.classes else None


class TriedImage(NamedTuple):
    """A tried file as a cached dataset row (C, S, S) in the dataset's integer type, the frame used, the file's
    frame count and, with 2.5-D input, where its channels came from (`Prediction.stacking`)."""

    image: torch.Tensor
    frame: int
    frames: int
    stacking: str


OWN_ROW = "one of the run's own images: its cached training row, exactly as training saw it"
NEIGHBOURS = "stacked with its neighbouring slices, found in its folder as training finds them"
ALONE = ("its neighbouring slices were not found (no other slice of its series in its folder): "
         "its own slice fills all {channels} channels")
LEFT_OUT = "training leaves it out of its series ({reason}): its own slice fills all {channels} channels"
PLAIN_IMAGE = "a plain 2-D image: it fills all {channels} channels, as plain images do in training"


class ImagePredictor:
    """A run's encoder, its dataset's embeddings and a classifier over them, ready to try images on."""

    def __init__(self, context: RunContext, neighbours: int = DEFAULT_NEIGHBOURS,
                 cancel: CancelToken | None = None, progress: Progress | None = None):
        self.context = context
        self.neighbours = neighbours
        self.embeddings = F.normalize(_embed_dataset(context, cancel, progress), dim=1)
        self.spread = TrainingSpread(self.embeddings)
        dataset = context.dataset
        self.class_names = list(dataset.class_names)
        self.labelled = torch.nonzero(dataset.labels >= 0).flatten()
        self.head: LinearHead | None = None
        self.method = "no labels in this dataset: only the nearest images are shown"
        present = torch.unique(dataset.labels[self.labelled]) if len(self.labelled) else torch.empty(0)
        if len(present) >= 2:
            self.head, self.method = self._linear_head(cancel)
        elif len(present) == 1:
            self.method = (f"vote of the {min(neighbours, len(self.labelled))} nearest labelled images "
                           f"(all {len(self.labelled)} labelled images are of one class)")

    @classmethod
    def open(cls, run_dir: str | Path, device: str = "auto", neighbours: int = DEFAULT_NEIGHBOURS,
             cancel: CancelToken | None = None, progress: Progress | None = None) -> "ImagePredictor":
        """Open a run folder (its latest checkpoint and its dataset) and prepare a predictor on it."""
        return cls(open_run(run_dir, device=device, cancel=cancel), neighbours, cancel, progress)

    @property
    def dataset_root(self) -> Path:
        """The folder the neighbours' `record.path` are relative to."""
        return Path(self.context.dataset.report.root)

    def _linear_head(self, cancel: CancelToken | None) -> tuple[LinearHead, str]:
        count = len(self.labelled)
        exported = self._exported_head()
        if exported is not None:
            return exported, f"linear head of the exported classifier, trained on {count} labelled images"
        if cancel:
            cancel.raise_if_cancelled()
        labels = self.context.dataset.labels[self.labelled]
        head = train_linear_head(self.embeddings[self.labelled.to(self.embeddings.device)], labels,
                                 len(self.class_names))
        return head, f"linear head trained on {count} labelled images"

    def _exported_head(self) -> LinearHead | None:
        """The head of `exports/classifier/` when it was made from this checkpoint and these classes."""
        folder = self.context.folder.exports_dir / FOLDER
        try:
            spec = json.loads((folder / FILES["spec"]).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if (spec.get("checkpoint") != self.context.checkpoint.name or spec.get("step") != self.context.step
                or spec.get("class_names") != self.class_names
                or spec.get("trained_on_images") != len(self.labelled)):
            return None
        state = torch.jit.load(str(folder / FILES["torchscript"]), map_location="cpu").head.state_dict()
        head = LinearHead(self.embeddings.shape[1], len(self.class_names))
        head.load_state_dict(dict(state))
        return head.to(self.embeddings.device).eval()

    def image_tensor(self, path: str | Path, frame: int | None = None,
                     cancel: CancelToken | None = None) -> TriedImage:
        """One file as a cached dataset row, with the frame used (the middle one by default), the file's frame
        count and where its channels came from (see the module docstring). Raises ValueError for an unreadable
        file; `cancel` stops the loading of its folder for 2.5-D neighbours."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        data_cfg = self.context.config.data
        try:
            frames = read_frames(path, data_cfg)
        except UnreadableImage as error:
            raise ValueError(f"{path.name} could not be read as an image: {error.reason}") from None
        if not frames:
            raise ValueError(f"{path.name} holds no image frames")
        chosen = len(frames) // 2 if frame is None else min(max(frame, 0), len(frames) - 1)
        dataset = self.context.dataset
        row = self._dataset_rows.get((path.resolve(), chosen))
        if row is not None:
            return TriedImage(dataset.images[row], chosen, len(frames), OWN_ROW if dataset.stacked_slices else "")
        if not dataset.stacked_slices:
            return TriedImage(torch.from_numpy(self._cached_frame(frames[chosen], dataset.channels)), chosen,
                              len(frames), "")
        image, stacking = self._stacked(path, chosen, frames[chosen], cancel)
        return TriedImage(torch.from_numpy(image), chosen, len(frames), stacking)

    @cached_property
    def _dataset_rows(self) -> dict[tuple[Path, int], int]:
        """The dataset's rows by (resolved file path, frame)."""
        root = self.dataset_root
        return {((root / record.path).resolve(), record.frame): row
                for row, record in enumerate(self.context.dataset.report.images)}

    def _stacked(self, path: Path, chosen: int, frame: Frame, cancel: CancelToken | None) -> tuple[np.ndarray, str]:
        """A frame outside the dataset as a 2.5-D row by the training rule, and where its channels came from.

        A plain 2-D image is stacked of itself (as `context_stacks` stacks it in training). A slice of a volume
        gets its row in a dataset of its own folder, loaded as training loads one but keeping every slice."""
        channels = self.context.dataset.channels
        if frame.facts is None or frame.facts.volume_key is None:  # no volume (see `frame_info`)
            return np.concatenate([self._cached_frame(frame, 1)] * channels), PLAIN_IMAGE.format(channels=channels)
        data_cfg = replace(self.context.config.data, root=str(path.parent), labels_csv="", mask_label="",
                           max_images=0, slices_per_volume=0, min_foreground=0.0)
        folder = load_dataset(data_cfg, cancel=cancel)
        rows = [row for row, record in enumerate(folder.report.images)
                if record.path == path.name and record.frame == chosen]
        if not rows:
            reasons = [item.reason for item in folder.report.skipped if item.path == path.name]
            reason = reasons[0] if reasons else "not found in its folder's scan"
            return (np.concatenate([self._cached_frame(frame, 1)] * channels),
                    LEFT_OUT.format(reason=reason, channels=channels))
        row = rows[0]
        image = _in_dtype(folder.images[row].numpy(), self._dtype)
        return image, (NEIGHBOURS if _volume_slices(folder, row) > 1 else ALONE).format(channels=channels)

    @property
    def _dtype(self) -> type:
        return self.context.dataset.images.numpy().dtype.type

    def _cached_frame(self, frame: Frame, channels: int) -> np.ndarray:
        """A decoded frame brought to the cache's size, bit depth and channel count, as the cache does it."""
        data_cfg = self.context.config.data
        dtype = self._dtype
        depth = frame.bit_depth if dtype == np.uint16 else 8
        return convert_frame(quantize(frame_square(frame, data_cfg.image_size, data_cfg.resample_spacing_mm), depth),
                             channels, dtype)

    @torch.no_grad()
    def predict(self, path: str | Path, frame: int | None = None, cancel: CancelToken | None = None) -> Prediction:
        """The classes (most probable first) and the nearest dataset images of one image file."""
        image, chosen, count, stacking = self.image_tensor(path, frame, cancel)
        device = self.embeddings.device
        embedding = embed_images(self.context.encoder, image[None], device)
        unit = F.normalize(embedding, dim=1)[0]
        similarity = self.embeddings @ unit
        top = similarity.topk(min(self.neighbours, len(similarity)))
        records = self.context.dataset.report.images
        neighbours = [Neighbour(int(index), records[int(index)], float(value))
                      for value, index in zip(top.values.cpu(), top.indices.cpu())]
        return Prediction(self._class_scores(embedding, similarity), neighbours, self.spread.check(similarity),
                          self.method, self._visible_pixels(image), chosen, count, stacking)

    def _class_scores(self, embedding: torch.Tensor, similarity: torch.Tensor) -> list[ClassScore]:
        if self.head is not None:
            probabilities = self.head(embedding).softmax(dim=1)[0]
        elif len(self.labelled):
            probabilities = self._vote(similarity)
        else:
            return []
        order = probabilities.argsort(descending=True).cpu().tolist()
        return [ClassScore(self.class_names[i], float(probabilities[i])) for i in order]

    def _vote(self, similarity: torch.Tensor) -> torch.Tensor:
        """Class shares of the similarity-weighted vote of the nearest labelled images."""
        labelled = self.labelled.to(similarity.device)
        labels = self.context.dataset.labels.to(similarity.device)[labelled].long()
        votes = weighted_votes(similarity[labelled][None], labels, len(self.class_names), self.neighbours,
                               KNN_TEMPERATURE)[0]
        return votes / votes.sum()

    def _visible_pixels(self, image: torch.Tensor) -> np.ndarray:
        """The tried image as float (S, S, C) in [0, 1]; the middle slice of a 2.5-D stack."""
        if self.context.dataset.stacked_slices:
            middle = image.shape[0] // 2
            image = image[middle:middle + 1]
        return to_unit(image).permute(1, 2, 0).numpy()


def _volume_slices(dataset: ImageDataset, row: int) -> int:
    """How many of the dataset's rows are slices of row `row`'s volume (1 for a plain image)."""
    volume = dataset.volume_index[row]
    return 1 if volume < 0 else int((dataset.volume_index == volume).sum())


def _in_dtype(image: np.ndarray, dtype: type) -> np.ndarray:
    """A cached row in another integer type: 8-bit to the full 16-bit range (as `convert_frame` does) or back."""
    if image.dtype == dtype:
        return image
    if dtype == np.uint16:
        return image.astype(np.uint16) * 257
    return np.rint(image / 257.0).astype(np.uint8)


def _embed_dataset(context: RunContext, cancel: CancelToken | None, progress: Progress | None) -> torch.Tensor:
    """Embeddings of every dataset image, in chunks so that progress and cancellation are reported."""
    images = context.dataset.images
    total = len(images)
    chunks = []
    for start in range(0, total, EMBED_BATCH):
        if progress:
            progress(start, total)
        chunks.append(embed_images(context.encoder, images[start:start + EMBED_BATCH], context.device,
                                   cancel=cancel))
    if progress:
        progress(total, total)
    return torch.cat(chunks)
