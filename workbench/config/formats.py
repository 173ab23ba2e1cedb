"""Format versions of the files a run folder holds: the one place the rule lives.

Each artefact (config.yaml, checkpoints, probe.json, embedding_map.json, encoder.json, scan_report.json) stores
its format version under `FORMAT_KEY`. A file without one was written before versions existed: it reads as
version 1. A file newer than the code knows is refused with a message naming the file."""
from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Mapping, TypeVar

from workbench.config.atomic import write_text_atomic

FORMAT_KEY = "format_version"
UNVERSIONED = 1
"""The version of a file written before format versions existed."""


class ArtefactError(ValueError):
    """A run-folder file this version of Pretext Workbench cannot read: a newer format, or fields missing."""


def format_version(record: Mapping[str, Any], known: int, name: str | Path) -> int:
    """The format version of `record` (read from the file `name`); raises ArtefactError unless it is
    a version from 1 to `known`."""
    version = record.get(FORMAT_KEY, UNVERSIONED)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ArtefactError(f"{name}: format version {version!r} is not a version number")
    if version > known:
        raise ArtefactError(f"{name} was written by a newer Pretext Workbench (format version {version}; "
                            f"this version reads up to {known}): update Pretext Workbench to open it")
    return version


def _read_json(path: str | Path) -> dict | None:
    """The JSON object in `path`, or None when the file is absent, half-written or not an object."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


A = TypeVar("A", bound="JsonArtefact")


class JsonArtefact:
    """Base of the dataclasses stored as one JSON file: `VERSION` is the format they write; a field with a
    default may be absent from an older file; keys the class does not know are ignored."""

    VERSION: ClassVar[int] = 1
    INDENT: ClassVar[int | None] = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written, format version first."""
        return {FORMAT_KEY: self.VERSION, **asdict(self)}

    @classmethod
    def from_json(cls: type[A], record: Mapping[str, Any], name: str | Path) -> A:
        """The artefact in `record` (read from the file `name`); ArtefactError when it cannot be read."""
        format_version(record, cls.VERSION, name)
        names = [f.name for f in fields(cls)]
        try:
            return cls(**{key: record[key] for key in names if key in record})
        except TypeError:
            missing = ", ".join(key for key in names if key not in record)
            raise ArtefactError(f"{name} is not a complete {Path(name).name} (it lacks {missing})") from None

    def write(self, path: str | Path) -> None:
        """Write the artefact to `path` atomically (NaN allowed, as Python writes it)."""
        write_text_atomic(Path(path), json.dumps(self.to_json(), indent=self.INDENT, allow_nan=True))

    @classmethod
    def read(cls: type[A], path: str | Path) -> A | None:
        """The artefact in `path`; None when absent or half-written, ArtefactError when it cannot be read."""
        record = _read_json(path)
        return None if record is None else cls.from_json(record, path)
