"""What a scan records: each readable image (`ImageRecord`) and its masks (`MaskRef`), each decoded frame's
facts (`FrameInfo`) and each file it did not use (`SkippedFile`)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImageRecord:
    """One readable 2-D image (one frame of a file); `path` is relative to the scanned root, posix.

    `volume`: an opaque id of the volume the image is a slice of (None for a plain 2-D image), and
    `slice_index` its place in that volume, ordered along the slice normal. `group`: an opaque id of the
    patient (else study, series or folder) for patient-level splits. Both ids are salted hashes; the group's
    is prefixed with what it groups (`patient:<hash>`, `folder:<hash>`, `file:<hash>`).
    `foreground`: the share of a slice that is not air (volumes only).
    `spacing`: the in-plane pixel spacing in mm (the mean of row and column spacing; None when unknown).
    `masks`: the named structures a segmentation or structure set in the folder annotates on this image
    (see `masks`), by name.
    """

    path: str
    frame: int
    label: str | None
    height: int
    width: int
    channels: int
    bit_depth: int
    volume: str | None = None
    slice_index: int = 0
    group: str = ""
    foreground: float | None = None
    spacing: float | None = None
    masks: dict[str, MaskRef] = field(default_factory=dict)


@dataclass(frozen=True)
class MaskRef:
    """Where an image's mask of one structure comes from: segment or ROI `number` of the SEG or RTSTRUCT file
    `source` (relative path), and how many of the image's pixels it covers (0: annotated, and not on this image)."""

    source: str
    number: int
    pixels: int


@dataclass
class SkippedFile:
    """A file that was not used, with the reason in a few words."""

    path: str
    reason: str


@dataclass
class FrameInfo:
    """The facts of one decoded frame that a report needs (identities as salted hashes only)."""

    height: int
    width: int
    channels: int
    bit_depth: int
    volume: str | None = None
    group: str | None = None
    position: float | None = None
    orientation: list[float] | None = None
    localizer: bool = False
    foreground: float | None = None
    note: str | None = None
    split: dict[str, str] = field(default_factory=dict)
    spacing: list[float] | None = None
    """In-plane pixel spacing in mm: [between rows, between columns]."""
