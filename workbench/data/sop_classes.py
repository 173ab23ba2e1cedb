"""Which DICOM objects are images, by their SOP Class: image storage classes are; segmentations, RT
dose/structures/plans, structured reports, presentation states, key object selections, waveforms and
other non-image objects are not, and each gets a plain reason. Unknown (private) or missing classes are
read as images when they hold pixels, as older exports often lack a SOP Class."""
from __future__ import annotations

import pydicom
from pydicom.uid import UID

_IMAGE_NAMES = ("Image Storage", "Volume Storage", "Map Storage")
"""Storage classes whose objects are pixel images (including enhanced US volumes and parametric maps)."""
_NON_IMAGE_KINDS = (
    ("Segmentation", "segmentation mask"),
    ("RT Dose", "radiotherapy dose grid"),
    ("RT Structure Set", "radiotherapy structure set (contours)"),
    ("Plan Storage", "radiotherapy plan"),
    ("Record Storage", "treatment record"),
    ("SR Storage", "structured report"),
    ("Presentation State", "presentation state (display settings for other images)"),
    ("Key Object Selection", "key object selection (a list of other images)"),
    ("Waveform", "waveform (ECG or another signal)"),
    ("Encapsulated", "encapsulated document"),
    ("Registration", "spatial registration"),
    ("Raw Data", "raw data"),
)


def sop_class(dataset: pydicom.Dataset) -> UID | None:
    """The SOP Class UID from the data set, else from its file meta header; None when neither has one."""
    meta = getattr(dataset, "file_meta", None)
    uid = dataset.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta is not None else None)
    return UID(str(uid)) if uid else None


def is_image_class(uid: UID | None) -> bool:
    """Whether `uid` is a known image storage class."""
    return uid is not None and any(name in uid.name for name in _IMAGE_NAMES)


def not_an_image(uid: UID | None) -> str | None:
    """Why an object of SOP Class `uid` is not an image ("segmentation mask, not an image"); None when it is
    one, or when the class is unknown or missing (then its pixels decide)."""
    if uid is None or uid.name == str(uid) or is_image_class(uid) or "Storage" not in uid.name:
        return None
    kind = next((words for part, words in _NON_IMAGE_KINDS if part in uid.name), uid.name.removesuffix(" Storage"))
    return f"{kind}, not an image"
