"""What a scan found, in numbers: the Dataset page's summary and a run's `scan_report.json` (counts, classes,
sizes, skipped files and notices relative to the dataset folder). It names the dataset folder only, never an
absolute path or a file's header values."""
from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from workbench.config.formats import JsonArtefact
from workbench.data.masks import structure_counts

SCAN_REPORT_NAME = "scan_report.json"


@dataclass(frozen=True)
class ScanSummary(JsonArtefact):
    """The summary of a scan (`ScanSummary.of(report)`); `skipped` holds {"path", "reason"} items, `notices`
    {"path", "notice"} items about images kept but worth a look (duplicate positions, gaps in a series)."""

    INDENT: ClassVar[int | None] = 1

    root_name: str
    readable: int
    files: int
    labels: dict[str, int] | None
    unlabelled: int
    skipped: list[dict[str, str]]
    volumes: int = 0
    slices_left_out: dict[str, int] = field(default_factory=dict)
    height: dict | None = None
    width: dict | None = None
    channels: dict[str, int] = field(default_factory=dict)
    bit_depths: dict[str, int] = field(default_factory=dict)
    notices: list[dict[str, str]] = field(default_factory=list)
    common_size: dict[str, int] | None = None
    """The most common image size: {"width", "height", "images"}."""
    spacing: dict | None = None
    """In-plane pixel spacings in mm ({"min", "median", "max", "images"}) of the images that record one."""
    found_through: list[str] = field(default_factory=list)
    """How files were found besides the folder walk (a line per DICOMDIR read, with relative paths only)."""
    structures: dict[str, int] = field(default_factory=dict)
    """The structures of the folder's masks (SEG segments, RTSTRUCT ROIs, see `masks`): images containing each."""

    @classmethod
    def of(cls, report: Any) -> "ScanSummary":
        """The summary of a `ScanReport`."""
        images = report.images
        sizes = collections.Counter((record.width, record.height) for record in images)
        common = sizes.most_common(1)
        return cls(
            root_name=Path(report.root).name,
            readable=len(images),
            files=len({record.path for record in images}),
            volumes=len({record.volume for record in images if record.volume is not None}),
            slices_left_out=dict(report.slices_left_out),
            labels=dict(report.labels) if report.labels is not None else None,
            unlabelled=sum(record.label is None for record in images),
            skipped=[{"path": item.path, "reason": item.reason} for item in report.skipped],
            notices=[{"path": item.path, "notice": item.reason} for item in report.notices],
            height=_spread([record.height for record in images]),
            width=_spread([record.width for record in images]),
            channels=_counts(record.channels for record in images),
            bit_depths=_counts(record.bit_depth for record in images),
            common_size={"width": common[0][0][0], "height": common[0][0][1], "images": common[0][1]}
            if common else None,
            spacing=_spacings([record.spacing for record in images if record.spacing is not None]),
            found_through=list(report.found_through),
            structures=structure_counts(images))


def _spread(values: list[int]) -> dict | None:
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _spacings(values: list[float]) -> dict | None:
    spread = _spread(values)
    return None if spread is None else {**spread, "images": len(values)}


def _counts(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (len(item[0]), item[0])))
