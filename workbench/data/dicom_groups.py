"""The functional groups of enhanced (multi-frame) DICOM: a frame's own item of a macro, else the shared one."""
from __future__ import annotations

import pydicom


def functional_group_item(dataset: pydicom.Dataset, frame: int, keyword: str) -> pydicom.Dataset | None:
    """The first item of `keyword` in frame `frame`'s per-frame group, else in the shared group, else None."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        sequence = dataset.get(groups)
        if sequence is not None and len(sequence) > index and keyword in sequence[index]:
            items = sequence[index][keyword].value
            if items:
                return items[0]
    return None
