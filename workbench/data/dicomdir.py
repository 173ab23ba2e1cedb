"""DICOMDIR indexes (the file a CD/DVD export or a PACS download carries): the image files they list.

A DICOMDIR's directory records name its files by ReferencedFileID, relative to the DICOMDIR's folder. A
scan reads the files listed there (matching names case-insensitively, as ISO 9660 copies often change case),
reports listed files that are missing, and still takes every file the folder walk found besides: a stale or
partial index must not hide images copied next to it. Only file names are read from the records, never the
patient or study values they hold. An unreadable DICOMDIR is reported, and the walk alone decides.
"""
from __future__ import annotations

import posixpath
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pydicom

from workbench.data.records import SkippedFile
from workbench.data.unreadable import describe_error

DICOMDIR_NAME = "DICOMDIR"
MISSING_FROM_DICOMDIR = "listed in DICOMDIR but not found"


@dataclass
class Listing:
    """The files a scan reads: `candidates` (relative posix paths, sorted), DICOMDIR entries that could not be
    used (`skipped`), and a line per DICOMDIR read (`found_through`)."""

    candidates: list[str]
    skipped: list[SkippedFile] = field(default_factory=list)
    found_through: list[str] = field(default_factory=list)


def is_dicomdir(relative: str) -> bool:
    """Whether a path names a DICOMDIR index (by its standard name)."""
    return PurePosixPath(relative).name.upper() == DICOMDIR_NAME


def referenced_files(path: Path) -> list[str]:
    """The ReferencedFileIDs of a DICOMDIR's records, as posix paths relative to its folder, in record order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about harmless oddities of real indexes
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    if "DirectoryRecordSequence" not in dataset:
        raise ValueError("no directory records")
    found = []
    for record in dataset.DirectoryRecordSequence:
        parts = record.get("ReferencedFileID")
        if parts is None:
            continue
        parts = [parts] if isinstance(parts, str) else list(parts)
        found.append("/".join(str(part).strip() for part in parts if str(part).strip()))
    return list(dict.fromkeys(name for name in found if name))


def list_through_dicomdirs(root: Path, walked: list[str]) -> Listing:
    """The scan's files: those the DICOMDIRs among `walked` list, plus every other file the walk found."""
    indexes = [relative for relative in walked if is_dicomdir(relative)]
    if not indexes:
        return Listing(list(walked))
    by_lower = {relative.lower(): relative for relative in walked}
    others = {relative for relative in walked if not is_dicomdir(relative)}
    listing = Listing([])
    listed: set[str] = set()
    for index in indexes:
        try:
            names = referenced_files(root / index)
        except Exception as error:  # a damaged index: the walk alone decides
            listing.skipped.append(SkippedFile(index, f"DICOMDIR unreadable ({describe_error(error, root / index)}); "
                                                      "the folder walk found the files"))
            continue
        folder = posixpath.dirname(index)
        present = 0
        for name in names:
            relative = posixpath.normpath(posixpath.join(folder, name))
            found = by_lower.get(relative.lower()) or (relative if _inside(root, relative) else None)
            if found is None:
                listing.skipped.append(SkippedFile(relative, MISSING_FROM_DICOMDIR))
            elif found not in listed:
                listed.add(found)
                present += 1
        listing.found_through.append(f"{index}: {present} file{'s' if present != 1 else ''} listed")
    extra = len(others - listed)
    if extra and listing.found_through:
        listing.found_through.append(f"{extra} more file{'s' if extra != 1 else ''} found by the folder walk")
    listing.candidates = sorted(others | listed)
    return listing


def _inside(root: Path, relative: str) -> bool:
    """Whether `relative` is a file within `root` (a record may not point outside the scanned folder)."""
    return not relative.startswith("../") and relative != ".." and (root / relative).is_file()
