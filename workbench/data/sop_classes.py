"""Which DICOM objects are images, by their SOP Class: image storage classes are; segmentations, RT
dose/structures/plans, structured reports, presentation states, key object selections, waveforms and
other non-image objects are not, and each gets a plain reason. Unknown (private) or missing classes are
read as images when they hold pixels, as older exports often lack a SOP Class; classes newer than pydicom's
list (the label map SEG) are named in `NEWER_CLASSES`."""
from __future__ import annotations

import pydicom
from pydicom.uid import UID

LABEL_MAP_SEGMENTATION = UID("1.2.840.10008.5.1.4.1.1.66.7")

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


NEWER_CLASSES = {LABEL_MAP_SEGMENTATION: "Label Map Segmentation Storage"}
"""Classes newer than pydicom's list: a label map SEG holds pixels, so it would be read as an image."""


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
    name = class_name(uid) if uid is not None else ""
    if uid is None or name == str(uid) or is_image_class(uid) or "Storage" not in name:
        return None
    kind = next((words for part, words in _NON_IMAGE_KINDS if part in name), name.removesuffix(" Storage"))
    return f"{kind}, not an image"


def class_name(uid: UID) -> str:
    """The name of SOP Class `uid` (pydicom's, else one of `NEWER_CLASSES`); the UID itself when unknown."""
    return NEWER_CLASSES.get(str(uid), uid.name)
