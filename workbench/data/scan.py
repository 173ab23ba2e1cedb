"""Scanning a folder: find candidate files, decode each once, attach labels, report what was skipped.

With `keep_pixels_at=S` every frame is also brought to S x S in the same pass (center crop of the
longer side to a square, then an antialiased resize; with `resample_spacing_mm`, frames of known pixel
spacing are first resampled to that spacing, see `frame_square`), so the cache is built without a second decode.
Kept pixels are integer arrays (S, S, C): uint8 for 8-bit sources, uint16 for deeper ones. They are kept
in a list, or handed to a `FrameSink` as they are decoded (the cache's sink bounds the memory they take).

Slices of a volume (a DICOM series, a multi-frame file, a NIfTI file) come out together, ordered along
the slice normal, with localizer/scout images left out and series split by what varies (see `volumes`);
duplicate positions and gaps become the report's `notices`. Segmentations and structure sets (SEG,
RTSTRUCT) are not images: they become the masks of the images they refer to (see `masks`), and with
`mask_label` one structure labels them. A folder with a DICOMDIR is read through its
records and the walk (see `dicomdir`). Series, patient and folder identities appear only as salted hashes
(see `privacy`).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from workbench.config import DataConfig
from workbench.config.paths import labels_csv_path
from workbench.control import CancelToken, Progress
from workbench.data.dicomdir import list_through_dicomdirs
from workbench.data.frame import Frame, frame_info
from workbench.data.masks import attach_masks, label_by_structure
from workbench.data.privacy import Pseudonymizer
from workbench.data.readers import is_candidate, read_frames
from workbench.data.records import FrameInfo, ImageRecord, SkippedFile
from workbench.data.splits import group_id
from workbench.data.scan_summary import ScanSummary
from workbench.data.unreadable import UnreadableImage
from workbench.data.volume_windows import RangeStore, SeriesRanges
from workbench.data.volumes import assemble_volumes

MIN_TRAINING_IMAGES = 2
"""Training needs at least this many readable images (a batch pairs at least two)."""
EXAMPLES_NAMED = 3
"""Skipped files named, with their reasons, in a one-line summary."""
MISSING_FROM_CSV = "listed in labels CSV but not found"
NOT_AN_IMAGE_IN_CSV = "listed in labels CSV but not an image file"


@dataclass
class ScanReport:
    """What a scan found: readable images, skipped files and label counts (None when unlabelled)."""

    root: str
    images: list[ImageRecord] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    labels: dict[str, int] | None = None
    slices_left_out: dict[str, int] = field(default_factory=dict)
    notices: list[SkippedFile] = field(default_factory=list)
    """Kept images worth a look, with what is odd about them (duplicate positions, gaps in a series, the
    volumes of a 4-D NIfTI: `Frame.note`)."""
    found_through: list[str] = field(default_factory=list)
    """How the files were found besides the folder walk: a line per DICOMDIR read (see `dicomdir`)."""

    @property
    def readable(self) -> int:
        return len(self.images)

    def to_json(self) -> dict:
        """A JSON-ready summary (`ScanSummary`). Holds the folder's name only, never an absolute path."""
        return ScanSummary.of(self).to_json()

@dataclass
class ScanResult:
    """A scan's report and, when asked for, the resized frames aligned with `report.images`.

    With a `FrameSink`, `pixels` is None and `frame_order[i]` is the sink position of report image i."""

    report: ScanReport
    pixels: list[np.ndarray] | None = None
    frame_order: list[int] = field(default_factory=list)


@dataclass
class DecodedFile:
    """What decoding one file gave: its frames' facts and resized pixels, or the reason it failed."""

    frames: list[FrameInfo] = field(default_factory=list)
    pixels: list[np.ndarray] | None = None
    reason: str | None = None


class FrameSink(Protocol):
    """A place that takes a scan's resized frames one by one, in decode order."""

    def append(self, pixels: np.ndarray) -> None: ...


class DecodeStore(RangeStore, Protocol):
    """A place that remembers decoded files (the on-disk cache) so a scan need not decode them again; a
    file decoded with a series' automatic window (`auto_range`) is remembered under that range too."""

    def lookup(self, relative_path: str, stat: os.stat_result,
               auto_range: tuple[float, float] | None = None) -> DecodedFile | None: ...

    def store(self, relative_path: str, stat: os.stat_result, decoded: DecodedFile,
              auto_range: tuple[float, float] | None = None) -> None: ...


SCAN_SETTINGS = ("labels_csv", "mask_label", "nifti_volumes", "max_images")
"""The data settings that change what `scan_folder` reports (which files, their labels, which volumes). The others
change how found images are decoded, windowed or chosen afterwards, so a shown scan stays true without a new one."""


def changes_the_scan(before: DataConfig, after: DataConfig) -> bool:
    """Whether `after` differs from `before` in a setting that changes what a scan of the same folder reports."""
    return any(getattr(before, name) != getattr(after, name) for name in SCAN_SETTINGS)


def scan_folder(root, data_cfg: DataConfig, cancel: CancelToken | None = None, progress: Progress | None = None,
                keep_pixels_at: int | None = None, store: DecodeStore | None = None,
                pseudonymizer: Pseudonymizer | None = None, sink: FrameSink | None = None) -> ScanResult:
    """Walk `root`, decode each candidate file once and return the report (and resized frames).

    `store`, when given, is asked first for every file (a hit is not decoded) and told every new decode;
    it must have been made with the same `pseudonymizer` (default: a fresh one for this scan only).
    `sink`, when given (with `keep_pixels_at`), takes the resized frames instead of the result.
    """
    pseudonymizer = pseudonymizer or Pseudonymizer.ephemeral()
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"not a folder: {root}" if root.exists() else
                         f"the folder {root} does not exist (moved, deleted or unplugged?)")
    csv_labels = read_labels_csv(root, data_cfg.labels_csv) if data_cfg.labels_csv else None
    listing = list_through_dicomdirs(root, list_candidates(root))
    candidates = listing.candidates
    report = ScanReport(root=str(root), skipped=listing.skipped, found_through=listing.found_through)
    kept: FrameSink | None = None if not keep_pixels_at else [] if sink is None else sink
    infos: list[FrameInfo] = []
    limit = data_cfg.max_images or None
    series_ranges = SeriesRanges(root, candidates, data_cfg, store)
    for done, relative in enumerate(candidates):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if limit is not None and report.readable >= limit:
            break
        decoded = _decoded_file(relative, root / relative, data_cfg, keep_pixels_at, store, pseudonymizer,
                                series_ranges.range_for(relative))
        if decoded.reason is not None:
            report.skipped.append(SkippedFile(relative, decoded.reason))
        else:
            take = len(decoded.frames) if limit is None else min(len(decoded.frames), limit - report.readable)
            label = csv_labels.get(relative) if csv_labels is not None else None
            for index, info in enumerate(decoded.frames[:take]):
                report.images.append(ImageRecord(relative, index, label, info.height, info.width, info.channels,
                                                 info.bit_depth, info.volume, 0, info.group or "",
                                                 info.foreground, _mean_spacing(info.spacing)))
            infos.extend(decoded.frames[:take])
            report.notices.extend(SkippedFile(relative, note) for note in dict.fromkeys(
                info.note for info in decoded.frames if info.note))
            if kept is not None:
                for pixels in decoded.pixels[:take]:
                    kept.append(pixels)
        if progress is not None:
            progress(done + 1, len(candidates))
    if progress is not None:
        progress(len(candidates), len(candidates))
    order, left_out = assemble_volumes(report.images, infos, report.notices)
    report.images = [report.images[index] for index in order]
    pixels = [kept[index] for index in order] if kept is not None and sink is None else None
    report.skipped.extend(left_out)
    if csv_labels is not None:
        report.skipped.extend(_csv_rows_without_image(root, csv_labels, set(candidates)))
    report.skipped = attach_masks(root, report.images, report.skipped)
    folder_labels = csv_labels is None and not data_cfg.mask_label and _label_by_subfolder(report.images)
    assign_folder_groups(report.images, folder_labels, pseudonymizer)
    if data_cfg.mask_label:
        label_by_structure(report.images, data_cfg.mask_label)
    report.labels = count_labels(report.images)
    return ScanResult(report, pixels, order)


def skipped_summary(skipped: list[SkippedFile]) -> str:
    """What a scan left out, in words: how many files and the first few with their reasons, or that there was
    no image file to read at all."""
    if not skipped:
        return "it holds no image files (PNG, JPEG, TIFF, BMP, DICOM or NIfTI)"
    named = "; ".join(f"{item.path}: {item.reason}" for item in skipped[:EXAMPLES_NAMED])
    more = f"; and {len(skipped) - EXAMPLES_NAMED} more" if len(skipped) > EXAMPLES_NAMED else ""
    return f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped ({named}{more})"


def training_problem(report: ScanReport, folder: str) -> str | None:
    """Why the images found in `folder` (named as the user gave it) cannot train; None when they can."""
    if report.readable >= MIN_TRAINING_IMAGES:
        return None
    found = "no readable image" if not report.readable else f"only {report.readable} readable image"
    why = f": {skipped_summary(report.skipped)}" if report.skipped or not report.readable else ""
    return f"{folder} has {found}, and training needs at least {MIN_TRAINING_IMAGES}{why}."


def list_candidates(root: Path) -> list[str]:
    """Candidate image files under `root` as relative posix paths, sorted, hidden entries skipped.

    Follows symbolic links to folders but visits each real folder once, so a link loop ends. A broken or
    looping link with an image name is a candidate too, so that the scan reports it.
    """
    found = []
    visited: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        try:
            stat = os.stat(folder)
        except OSError:  # removed since it was listed
            continue
        identity = (stat.st_dev, stat.st_ino)
        if identity in visited:
            subfolders[:] = []
            continue
        visited.add(identity)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and (path.is_file() or path.is_symlink()) and is_candidate(path):
                found.append(path.relative_to(root).as_posix())
    found.sort()
    return found


def read_labels_csv(root: Path, labels_csv: str) -> dict[str, str]:
    """`path,label` rows as {relative path: label}; a relative CSV path is tried under `root` first, then under
    the working directory (`workbench.config.paths.labels_csv_path`)."""
    csv_path = Path(labels_csv_path(labels_csv, str(root), os.getcwd()))
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"path", "label"} <= {name.strip() for name in reader.fieldnames}:
                raise ValueError(f"labels CSV {csv_path.name} needs a header row `path,label`")
            rows = [{key.strip(): (value or "").strip() for key, value in row.items() if key} for row in reader]
    except OSError as error:
        raise ValueError(f"cannot read labels CSV {csv_path.name}: {error.strerror}") from None
    labels = {}
    for row in rows:
        relative = Path(row["path"].replace("\\", "/")).as_posix()
        if row["label"]:
            labels[relative] = row["label"]
    return labels


def count_labels(images: list[ImageRecord]) -> dict[str, int] | None:
    """Images per class, sorted by class name; None when no image has a label."""
    counts: dict[str, int] = {}
    for record in images:
        if record.label is not None:
            counts[record.label] = counts.get(record.label, 0) + 1
    return dict(sorted(counts.items())) or None


def square_resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Center-crop (H, W, C) float pixels to a square, then resize to size x size with antialiasing."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return _resized(pixels[top:top + side, left:left + side], (size, size))


def frame_square(frame: Frame, size: int, spacing_mm: float) -> np.ndarray:
    """A frame's float pixels at size x size: resampled to `spacing_mm` mm pixels when it is above 0 and the
    frame's spacing is known (the central size x spacing_mm mm, black beyond the image), else `square_resize`."""
    if spacing_mm <= 0 or frame.spacing is None:
        return square_resize(frame.pixels, size)
    pixels = frame.pixels
    scale = [source / spacing_mm for source in frame.spacing]  # output pixels per source pixel, rows and columns
    kept = [min(extent, max(1, round(size / factor))) for extent, factor in zip(pixels.shape[:2], scale)]
    top, left = [(extent - keep) // 2 for extent, keep in zip(pixels.shape[:2], kept)]
    shape = [min(size, max(1, round(keep * factor))) for keep, factor in zip(kept, scale)]
    out = np.zeros((size, size, pixels.shape[2]), dtype=np.float32)
    row, column = (size - shape[0]) // 2, (size - shape[1]) // 2
    out[row:row + shape[0], column:column + shape[1]] = _resized(
        pixels[top:top + kept[0], left:left + kept[1]], shape)
    return out


def _resized(pixels: np.ndarray, shape: list[int] | tuple[int, int]) -> np.ndarray:
    """(H, W, C) float pixels resized to `shape` (bilinear, antialiased when shrinking), clamped to [0, 1]."""
    batch = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
    shrinking = shape[0] < pixels.shape[0] or shape[1] < pixels.shape[1]
    resized = F.interpolate(batch, size=tuple(shape), mode="bilinear", antialias=shrinking, align_corners=False)
    return resized[0].permute(1, 2, 0).clamp_(0.0, 1.0).numpy()


def _mean_spacing(spacing: list[float] | None) -> float | None:
    return sum(spacing) / len(spacing) if spacing else None


def quantize(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float [0, 1] pixels to uint8 (bit depth 8) or uint16 (deeper)."""
    top, dtype = (255, np.uint8) if bit_depth <= 8 else (65535, np.uint16)
    return np.rint(np.clip(pixels, 0.0, 1.0) * top).astype(dtype)


def decode_file(path: Path, data_cfg: DataConfig, keep_pixels_at: int | None, relative: str = "",
                pseudonymizer: Pseudonymizer | None = None,
                auto_range: tuple[float, float] | None = None) -> DecodedFile:
    """Decode one file: frames' facts and (optionally) square integer pixels, or the failure reason.
    `auto_range`: the automatic window's range of its series (see `volume_windows`).

    Series and patient identities are replaced by pseudonyms here, before anything can be stored.
    """
    try:
        frames: list[Frame] = read_frames(path, data_cfg, auto_range)
    except UnreadableImage as error:
        return DecodedFile(reason=error.reason)
    if not frames:
        return DecodedFile(reason="no frames")
    pseudonymizer = pseudonymizer or Pseudonymizer.ephemeral()
    infos = [frame_info(frame, relative, pseudonymizer) for frame in frames]
    pixels = None
    if keep_pixels_at:
        pixels = [quantize(frame_square(frame, keep_pixels_at, data_cfg.resample_spacing_mm), frame.bit_depth)
                  for frame in frames]
    return DecodedFile(infos, pixels)


def _decoded_file(relative: str, path: Path, data_cfg: DataConfig, keep_pixels_at: int | None,
                  store: DecodeStore | None, pseudonymizer: Pseudonymizer,
                  auto_range: tuple[float, float] | None = None) -> DecodedFile:
    if store is None:
        return decode_file(path, data_cfg, keep_pixels_at, relative, pseudonymizer, auto_range)
    try:
        stat = path.stat()
    except OSError:  # vanished, or a broken link: decoding says which
        return decode_file(path, data_cfg, keep_pixels_at, relative, pseudonymizer, auto_range)
    decoded = store.lookup(relative, stat, auto_range)
    if decoded is None:
        decoded = decode_file(path, data_cfg, keep_pixels_at, relative, pseudonymizer, auto_range)
        store.store(relative, stat, decoded, auto_range)
    return decoded


def _label_by_subfolder(images: list[ImageRecord]) -> bool:
    """First path component is the label when at least two sub-folders hold images; root images stay None.

    Returns whether sub-folders became labels."""
    folders = {record.path.split("/", 1)[0] for record in images if "/" in record.path}
    if len(folders) < 2:
        return False
    for record in images:
        if "/" in record.path:
            record.label = record.path.split("/", 1)[0]
    return True


def assign_folder_groups(images: list[ImageRecord], folders_are_labels: bool, pseudonymizer: Pseudonymizer) -> None:
    """Give images without a patient identity the group of their top-level folder.

    The top-level folder is the one below the class folder when sub-folders are labels; an image directly
    in the root (or in its class folder) is a group of its own (with all slices of its volume).
    """
    skip = 1 if folders_are_labels else 0
    for record in images:
        if record.group:
            continue
        parts = record.path.split("/")
        key = "/".join(parts[:skip + 1]) if len(parts) - skip >= 2 else record.path
        record.group = group_id("file" if key == record.path else "folder", pseudonymizer.pseudonym("folder", key))


def _csv_rows_without_image(root: Path, labels: dict[str, str], candidates: set[str]) -> list[SkippedFile]:
    missing = []
    for relative in sorted(labels):
        if relative in candidates:
            continue
        reason = NOT_AN_IMAGE_IN_CSV if (root / relative).is_file() else MISSING_FROM_CSV
        missing.append(SkippedFile(relative, reason))
    return missing


