"""The decoded cache: every image once as a fixed-size integer tensor, ready to batch onto a device.

On disk, each decoded file is kept under `<cache>/decoded/` keyed by a hash of (dataset folder,
relative path, size, mtime_ns, image size, window settings, 4-D NIfTI volumes): a changed file is read again, an
unchanged one is not. Frames are stored with their own channel count; the dataset's channel policy, the
choice of slices and 2.5-D stacking are applied when the tensor is assembled, so changing them needs no
new decode. Keys are hashed, and series/patient identities are stored only as salted pseudonyms (the salt
lives in the cache folder, see `privacy`), so neither paths nor header values are stored in the clear.

When the assembled tensor is larger than `cache_ram_mb`, it lives in a memory-mapped file under
`<cache>/arrays/` instead of RAM, written a chunk of rows at a time (channel statistics are gathered on
the way). While the folder is scanned, its resized frames are held in memory up to `cache_ram_mb` and
beyond it in a temporary file (see `frame_spool`); they also move to that file when they and a tensor
assembled in memory would pass the budget together. So building a large cache stays within the budget.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from workbench.config import DataConfig
from workbench.config.atomic import write_atomic
from workbench.control import CancelToken, Progress, held_alone
from workbench.data.demo import dataset_folder
from workbench.data.frame_spool import FrameSpool
from workbench.data.locations import cache_root
from workbench.data.privacy import Pseudonymizer
from workbench.data.records import FrameInfo, ImageRecord
from workbench.data.sampling import context_stacks, select_slices, stacked_channels
from workbench.data.scan import DecodedFile, ScanReport, count_labels, scan_folder, skipped_summary
from workbench.data.sequences import sequence_numbers

BYTES_PER_MB = 1024 * 1024
_FORMAT_VERSION = 7  # 7: 4-D NIfTI notes, echo per frame first; 6: pixel spacing; 5: notes, split facts; 4: group kinds
ENTRY_SUFFIX = ".pixels"
RANGE_SUFFIX = ".range"
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_CHUNK_VALUES = 1 << 18
"""Rows are assembled (and counted into the statistics) about this many pixel values at a time."""


@dataclass
class ImageDataset:
    """All images of a folder as one integer tensor (N, C, S, S), with labels and channel statistics.

    `groups[i]` is image i's patient-level group (`<kind>:<salted hash>`, e.g. `patient:...`) for splits
    that keep a patient on one side; `volume_index[i]` numbers its volume (-1 for a plain 2-D image).
    `sequence_index[i]` numbers the sequence it is a frame of (its volume, or its folder with `data.sequences: folders`; -1 for none) and
    `sequence_position[i]` its place there (see `sequences`). With 2.5-D input (`context_slices`),
    C = 1 + 2 x context_slices gray slices and `stacked_slices` is True.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    report: ScanReport
    channels: int
    mean: list[float]
    std: list[float]
    memmap_path: Path | None = None
    groups: list[str] = field(default_factory=list)
    volume_index: torch.Tensor | None = None
    stacked_slices: bool = False
    sequence_index: torch.Tensor | None = None
    sequence_position: torch.Tensor | None = None
    files_decoded: int = 0
    """Files this load decoded (and cached when readable); `files_from_cache` came from the decoded cache."""
    files_from_cache: int = 0

    def __post_init__(self) -> None:
        if not self.groups:  # no patient information: every image is its own group
            self.groups = [f"image:{index}" for index in range(len(self))]
        if self.volume_index is None:
            self.volume_index = torch.full((len(self),), -1, dtype=torch.int64)
        if self.sequence_index is None or self.sequence_position is None:  # volumes only, as the report has them
            self.sequence_index, self.sequence_position = sequence_numbers(self.report.images, "none")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_labelled(self) -> int:
        return int((self.labels >= 0).sum())


class DiskDecodeStore:
    """Decoded files on disk, one small entry per file, under hashed names (see the module docstring).

    An entry is a 4-byte header length, a JSON header (the frames' facts, pixel dtype and shape) and the raw
    pixels: reading one back is a file read and a JSON parse, about 8x faster than an .npz (a zip archive
    with parsed array headers), which matters when a large folder is opened again."""

    def __init__(self, folder: Path, root: Path, data_cfg: DataConfig, pseudonymizer: Pseudonymizer) -> None:
        self.folder, self.root = folder, root
        self.pseudonymizer = pseudonymizer
        self.settings = _hash(settings_fingerprint(root, data_cfg), pseudonymizer.fingerprint)
        self.found = self.missed = 0
        """Files whose decoded entry was read back, and those that had to be decoded."""

    @property
    def lock_path(self) -> Path:
        """The lock held while this dataset is decoded into the cache. Several processes open one dataset at once
        when a run starts under `torchrun` (every worker of a node) or on a cluster (every node, when the cache is
        on a shared file system): entries are written atomically, so decoding side by side would be correct, only
        wasted. Under the lock the first process decodes and the others then find every file in the cache."""
        return self.folder.parent / "locks" / f"{self.settings}.lock"

    def _entry(self, relative_path: str, stat: os.stat_result, auto_range: tuple[float, float] | None) -> Path:
        series_window = () if auto_range is None else (repr(auto_range),)  # a slice windowed by its series' range
        key = _hash(self.settings, relative_path, stat.st_size, stat.st_mtime_ns, *series_window)
        return self.folder / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def lookup(self, relative_path: str, stat: os.stat_result,
               auto_range: tuple[float, float] | None = None) -> DecodedFile | None:
        try:
            data = self._entry(relative_path, stat, auto_range).read_bytes()
        except OSError:
            self.missed += 1
            return None  # absent: decode
        decoded = parse_entry(data)
        self.found += decoded is not None
        self.missed += decoded is None
        return decoded

    def store(self, relative_path: str, stat: os.stat_result, decoded: DecodedFile,
              auto_range: tuple[float, float] | None = None) -> None:
        if decoded.reason is not None or not decoded.pixels:
            return  # failures are not cached: a fixed permission or codec must be noticed next time
        pixels = np.ascontiguousarray(np.stack(decoded.pixels))
        header = json.dumps({"dtype": pixels.dtype.str, "shape": pixels.shape,
                             "frames": [vars(info) for info in decoded.frames]}).encode()
        _replace_file(self._entry(relative_path, stat, auto_range),
                      len(header).to_bytes(4, "little") + header + pixels.tobytes())

    def _range_entry(self, members: list[tuple[str, int, int]]) -> Path:
        key = _hash(self.settings, "series range", json.dumps(sorted(members)))
        return self.folder / key[:2] / f"{key}{RANGE_SUFFIX}"

    def lookup_range(self, members: list[tuple[str, int, int]]) -> tuple[float, float] | None:
        """A series' automatic window range, kept under its files' names, sizes and mtimes (see `volume_windows`)."""
        try:
            low, high = json.loads(self._range_entry(members).read_text())
            return float(low), float(high)
        except (OSError, ValueError, TypeError):
            return None

    def store_range(self, members: list[tuple[str, int, int]], value_range: tuple[float, float]) -> None:
        _replace_file(self._range_entry(members), json.dumps(list(value_range)).encode())


def parse_entry(data: bytes) -> DecodedFile | None:
    """A stored entry's frames and pixels; None when it is damaged (then the file is decoded again)."""
    try:
        size = int.from_bytes(data[:4], "little")
        header = json.loads(data[4:4 + size])
        dtype = np.dtype(header["dtype"])
        if dtype.kind != "u" or dtype.itemsize not in (1, 2):
            return None
        pixels = np.frombuffer(data, dtype=dtype, offset=4 + size).reshape(header["shape"]).copy()
        frames = [FrameInfo(**info) for info in header["frames"]]
    except (ValueError, KeyError, TypeError):
        return None
    return DecodedFile(frames, list(pixels)) if len(frames) == len(pixels) else None


def settings_fingerprint(root: Path, data_cfg: DataConfig) -> str:
    """Everything besides the file itself that changes its decoded pixels, as one hash."""
    window = {"mode": data_cfg.dicom_window}
    if data_cfg.dicom_window == "manual":
        window.update(center=data_cfg.window_center, width=data_cfg.window_width)
    return _hash(_FORMAT_VERSION, str(Path(root).resolve()), data_cfg.image_size, json.dumps(window, sort_keys=True),
                 data_cfg.resample_spacing_mm, data_cfg.nifti_volumes)


def needs_memmap(nbytes: int, cache_ram_mb: int) -> bool:
    """Whether a tensor of `nbytes` exceeds the RAM budget and so goes to a memory-mapped file."""
    return nbytes > cache_ram_mb * BYTES_PER_MB


def decode_store(data_cfg: DataConfig) -> DiskDecodeStore:
    """The decoded cache of `data_cfg`'s folder and decode settings."""
    cache = cache_root(data_cfg)
    return DiskDecodeStore(cache / "decoded", dataset_folder(data_cfg), data_cfg, Pseudonymizer.for_folder(cache))


def load_dataset(data_cfg: DataConfig, cancel: CancelToken | None = None,
                 progress: Progress | None = None) -> ImageDataset:
    """Scan `data_cfg.root` (the demo dataset when empty), using and filling the decoded cache.

    Slices of volumes are then chosen (`slices_per_volume`, `min_foreground`) and, with `context_slices`,
    stacked with their neighbours; the dataset's report lists the images it holds, in tensor order.
    """
    stacked = stacked_channels(data_cfg)
    cache = cache_root(data_cfg)
    store = decode_store(data_cfg)
    root = store.root
    with held_alone(store.lock_path, cancel), \
            FrameSpool(data_cfg.cache_ram_mb * BYTES_PER_MB, cache / "arrays") as frames:
        result = scan_folder(root, data_cfg, cancel=cancel, progress=progress, keep_pixels_at=data_cfg.image_size,
                             store=store, pseudonymizer=store.pseudonymizer, sink=frames)
        scanned = result.report
        if scanned.readable == 0:
            raise ValueError(f"no readable images in {root}: {skipped_summary(scanned.skipped)}")
        kept, left_out = select_slices(scanned.images, data_cfg)
        stacks = context_stacks(scanned.images, kept, data_cfg.context_slices)
        report = _chosen_report(scanned, kept, left_out)

        channels = stacked or data_cfg.channels or (3 if any(record.channels == 3 for record in report.images) else 1)
        used = {index for stack in stacks for index in stack}
        dtype = np.uint16 if any(scanned.images[index].bit_depth > 8 for index in used) else np.uint8
        shape = (len(stacks), channels, data_cfg.image_size, data_cfg.image_size)
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        memmap_path = None
        if needs_memmap(nbytes, data_cfg.cache_ram_mb):
            selection = (data_cfg.slices_per_volume, data_cfg.min_foreground, data_cfg.context_slices)
            memmap_path = cache / "arrays" / f"{_hash(store.settings, channels, dtype.__name__, selection)}.npy"
        else:
            frames.reserve(nbytes)  # the frames and the tensor together must not pass the budget either
        rows = _assembled_rows(frames, result.frame_order, stacks, shape, dtype, cancel)
        array, stats = _assemble(rows, shape, dtype, memmap_path)
    del result, scanned, stacks

    class_names = sorted(report.labels) if report.labels else []
    index = {name: number for number, name in enumerate(class_names)}
    labels = torch.tensor([index.get(record.label, -1) for record in report.images], dtype=torch.int64)
    mean, std = stats.mean_std()
    sequence_index, sequence_position = sequence_numbers(report.images, data_cfg.sequences)
    return ImageDataset(torch.from_numpy(array), labels, class_names, report, channels, mean, std, memmap_path,
                        groups=[record.group for record in report.images],
                        volume_index=_volume_numbers(report.images), stacked_slices=stacked is not None,
                        sequence_index=sequence_index, sequence_position=sequence_position,
                        files_decoded=store.missed, files_from_cache=store.found)


def _chosen_report(scanned: ScanReport, kept: list[int], left_out: dict[str, int]) -> ScanReport:
    """The scan report narrowed to the chosen images, with counts of the slices left out."""
    images = [scanned.images[index] for index in kept]
    return ScanReport(scanned.root, images, list(scanned.skipped), count_labels(images), dict(left_out),
                      list(scanned.notices), list(scanned.found_through))


def _volume_numbers(images: list[ImageRecord]) -> torch.Tensor:
    numbers: dict[str, int] = {}
    return torch.tensor([-1 if record.volume is None else numbers.setdefault(record.volume, len(numbers))
                         for record in images], dtype=torch.int64)


def convert_frame(pixels: np.ndarray, channels: int, dtype: type) -> np.ndarray:
    """One cached (S, S, C) frame to the dataset's channel count and dtype, as (channels, S, S)."""
    if pixels.dtype == np.uint8 and dtype == np.uint16:
        pixels = pixels.astype(np.uint16) * 257  # 8-bit to the full 16-bit range
    if pixels.shape[2] == 3 and channels == 1:
        top = np.iinfo(pixels.dtype).max
        gray = np.rint(np.clip(pixels.astype(np.float32) @ _GRAY_WEIGHTS, 0, top)).astype(pixels.dtype)
        pixels = gray[..., None]
    elif pixels.shape[2] == 1 and channels == 3:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=dtype)


class ChannelStats:
    """Per-channel mean and standard deviation of (N, C, S, S) integer images scaled to [0, 1], gathered a
    chunk of images at a time (in float64: chunking changes the figures only by rounding)."""

    def __init__(self, channels: int, dtype: type) -> None:
        self.top = float(np.iinfo(dtype).max)
        self.total = np.zeros(channels)
        self.total_sq = np.zeros(channels)
        self.count = 0

    def add(self, chunk: np.ndarray) -> None:
        scaled = chunk.astype(np.float64)
        scaled /= self.top
        self.total += scaled.sum(axis=(0, 2, 3))
        scaled *= scaled
        self.total_sq += scaled.sum(axis=(0, 2, 3))
        self.count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]

    def mean_std(self) -> tuple[list[float], list[float]]:
        mean = self.total / max(self.count, 1)
        std = np.sqrt(np.maximum(self.total_sq / max(self.count, 1) - mean * mean, 0.0))
        return [float(value) for value in mean], [float(max(value, 1e-6)) for value in std]


def _assembled_rows(frames: FrameSpool, frame_order: list[int], stacks: list[list[int]], shape: tuple,
                    dtype: type, cancel: CancelToken | None) -> Iterator[np.ndarray]:
    """The tensor's rows in order, a chunk at a time: row i is report image stacks[i] in the channel policy,
    or a 2.5-D stack of gray frames (`frame_order` maps report images to spool positions)."""
    channels = shape[1]
    step = max(1, _CHUNK_VALUES // int(np.prod(shape[1:])))
    for start in range(0, len(stacks), step):
        if cancel is not None:
            cancel.raise_if_cancelled()
        part = stacks[start:start + step]
        chunk = np.empty((len(part), *shape[1:]), dtype=dtype)
        for row, stack in enumerate(part):
            if len(stack) == 1:
                chunk[row] = convert_frame(frames[frame_order[stack[0]]], channels, dtype)
            else:
                chunk[row] = np.concatenate([convert_frame(frames[frame_order[index]], 1, dtype) for index in stack])
        yield chunk


def _assemble(rows: Iterator[np.ndarray], shape: tuple, dtype: type,
              memmap_path: Path | None) -> tuple[np.ndarray, ChannelStats]:
    """The tensor from its rows, in memory or (with `memmap_path`) memory-mapped, and its statistics."""
    stats = ChannelStats(shape[1], dtype)
    if memmap_path is not None:
        return _write_memmap(memmap_path, shape, dtype, rows, stats), stats
    array = np.empty(shape, dtype=dtype)
    start = 0
    for chunk in rows:
        array[start:start + len(chunk)] = chunk
        stats.add(chunk)
        start += len(chunk)
    return array, stats


def _write_memmap(path: Path, shape: tuple, dtype: type, rows: Iterator[np.ndarray],
                  stats: ChannelStats) -> np.ndarray:
    """Write the rows to an .npy file with plain file writes (no mapping, so the pages written do not count
    as this process's memory), then map it copy-on-write: writable for torch, the file itself never changes."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as file:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(file, header)
            for chunk in rows:
                file.write(chunk.data)
                stats.add(chunk)

    write_atomic(path, write)
    return np.load(path, mmap_mode="c")


def _replace_file(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename: readers see the old entry or the new one, never half of one.

    No fsync: an entry lost in a power cut is simply decoded again, and thousands of fsyncs are slow.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".entry-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _hash(*parts) -> str:
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()  # non-UTF-8 file names too
