"""What a DICOM header says about a frame's place in its series: a scout (by ImageType LOCALIZER/SCOUT or
the series' own description), a derived projection (MIP), and the values that can split one series into
several volumes (stack, diffusion b-value and direction, echo, temporal position, acquisition, other
dimension indices). An enhanced file's frames go by their own functional groups first (e.g. each frame's
EffectiveEchoTime, before an EchoNumbers some exports leave at the top). Which of those values really split a
series is decided in `volumes`."""
from __future__ import annotations

import re

import pydicom

from workbench.data.dicom_groups import functional_group_item
from workbench.data.siemens import csa_value

SCOUT_TYPES = ("LOCALIZER", "SCOUT")
SCOUT_WORDS = re.compile(r"(?<![A-Z])(LOCALI[SZ]ER|SCOUT|SURVEY|PILOT|TOPOGRAM)(?![A-Z])")
"""Words of a scout's series description, also between underscores or digits ("Survey_MST", "3PLANE_LOCALIZER")."""
PROJECTION_TYPES = ("PROJECTION IMAGE", "MIP")
_IN_STACK_POINTERS = (0x00209057, 0x00200032)
"""Dimension indices that number a slice within its stack (InStackPositionNumber, ImagePositionPatient)."""


def image_type(dataset: pydicom.Dataset) -> list[str]:
    return [str(value).strip().upper() for value in (dataset.get("ImageType") or [])]


def is_projection(dataset: pydicom.Dataset) -> bool:
    """A derived projection (ImageType DERIVED with PROJECTION IMAGE or MIP): its own volume, not a scout."""
    kinds = image_type(dataset)
    return "DERIVED" in kinds and any(kind in kinds for kind in PROJECTION_TYPES)


def is_scout(dataset: pydicom.Dataset) -> bool:
    """A localizer/scout: ImageType LOCALIZER or SCOUT, or a series description such as "FAST LOCALIZER"."""
    if is_projection(dataset):
        return False
    description = str(dataset.get("SeriesDescription", "") or "").upper()
    return any(kind in image_type(dataset) for kind in SCOUT_TYPES) or bool(SCOUT_WORDS.search(description))


def split_values(dataset: pydicom.Dataset, frame: int, csa: dict | None) -> tuple[tuple[str, str], ...]:
    """(name, value) of each attribute of frame `frame` that may tell volumes of one series apart."""
    content = functional_group_item(dataset, frame, "FrameContentSequence")
    diffusion = functional_group_item(dataset, frame, "MRDiffusionSequence")
    echo = functional_group_item(dataset, frame, "MREchoSequence")
    values = {
        "stack": _present(_first(content, "StackID"), _first(dataset, "StackID")),
        "b-value": _number(_present(_first(diffusion, "DiffusionBValue"), _first(dataset, "DiffusionBValue"),
                                    next(iter(csa_value(csa, "B_value")), None))),
        "direction": _vector(_present(_direction(diffusion), dataset.get("DiffusionGradientOrientation"),
                                      csa_value(csa, "DiffusionGradientDirection") or None)),
        "echo": _present(_number(_first(echo, "EffectiveEchoTime")), _first(dataset, "EchoNumbers")),
        "temporal": _present(_first(content, "TemporalPositionIndex"), _first(dataset, "TemporalPositionIdentifier")),
        "acquisition": _first(dataset, "AcquisitionNumber"),
        "dimension": _dimension(dataset, content),
    }
    return tuple((name, str(value)) for name, value in values.items() if value not in (None, ""))


def _present(*values):
    """The first value that is there (0 counts)."""
    return next((value for value in values if value not in (None, "")), None)


def _first(source: pydicom.Dataset | None, keyword: str):
    if source is None or keyword not in source:
        return None
    value = source[keyword].value
    return value[0] if isinstance(value, (list, pydicom.multival.MultiValue)) and value else value


def _number(value) -> str | None:
    try:
        return f"{float(value):g}" if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _vector(values) -> str | None:
    try:
        return ",".join(f"{round(float(value), 3) + 0.0:g}" for value in values) if values else None
    except (TypeError, ValueError):
        return None


def _direction(diffusion: pydicom.Dataset | None):
    items = diffusion.get("DiffusionGradientDirectionSequence") if diffusion is not None else None
    return items[0].get("DiffusionGradientOrientation") if items else None


def _dimension(dataset: pydicom.Dataset, content: pydicom.Dataset | None) -> str | None:
    """DimensionIndexValues without the indices that number slices within a stack."""
    values = content.get("DimensionIndexValues") if content is not None else None
    if values is None:
        return None
    values = list(values) if isinstance(values, (list, pydicom.multival.MultiValue)) else [values]
    pointers = [int(item.get("DimensionIndexPointer", 0) or 0) for item in dataset.get("DimensionIndexSequence") or []]
    kept = [value for index, value in enumerate(values)
            if index >= len(pointers) or pointers[index] not in _IN_STACK_POINTERS]
    return ".".join(str(value) for value in kept) or None
