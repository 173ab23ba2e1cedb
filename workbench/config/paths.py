"""The path settings of a config, and how a config file stores them: relative to the file's own folder.

In memory a path setting is what the process can open: absolute, or relative to the working directory.
In a config file, a relative path is relative to the folder holding that file. So a run folder's
config.yaml names its dataset as e.g. ``../../data/scans``: it carries no absolute source path, and the run
folder and the dataset can move together. Paths are joined and shortened lexically (`os.path.abspath`,
`os.path.relpath`), the same way in both directions, so a path saved and loaded again names the same folder.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path, PurePath

from workbench.config.schema import RunConfig

PATH_SETTINGS: dict[tuple[str, str], str] = {
    ("data", "root"): "folder", ("data", "labels_csv"): "file", ("data", "cache_dir"): "folder",
    ("model", "init_weights"): "file", ("output", "out_dir"): "folder"}
"""(section, setting) of every setting that names a file or folder: "file" or "folder"."""
_LABELS_CSV = ("data", "labels_csv")


def paths_relative_to(config: RunConfig, folder: str | Path) -> RunConfig:
    """A copy of `config` whose path settings are relative to `folder` (what a config file in `folder` stores).

    A labels CSV inside the dataset folder is stored relative to the dataset folder, where it is looked up first.
    """
    stored = copy.deepcopy(config)
    base = os.path.abspath(folder)
    for section, name in PATH_SETTINGS:
        value = getattr(getattr(config, section), name)
        if value and (section, name) != _LABELS_CSV:
            setattr(getattr(stored, section), name, relative_path(_absolute(value), base))
    labels, root = config.data.labels_csv, config.data.root
    if labels:
        target = labels_csv_path(labels, root, os.getcwd())
        inside = root and _is_inside(target, _absolute(root))
        stored.data.labels_csv = relative_path(target, _absolute(root) if inside else base)
    return stored


def paths_resolved_from(config: RunConfig, folder: str | Path) -> RunConfig:
    """`config` (changed in place and returned) with each relative path setting made absolute against `folder`.

    A relative labels CSV is looked up in the dataset folder first, then in `folder`.
    """
    base = os.path.abspath(folder)
    for section, name in PATH_SETTINGS:
        value = getattr(getattr(config, section), name)
        if value and (section, name) != _LABELS_CSV and not os.path.isabs(os.path.expanduser(value)):
            setattr(getattr(config, section), name, os.path.abspath(os.path.join(base, value)))
    if config.data.labels_csv:
        config.data.labels_csv = labels_csv_path(config.data.labels_csv, config.data.root, base)
    return config


def labels_csv_path(labels_csv: str, root: str, base: str) -> str:
    """The labels CSV as an absolute path: a relative one is looked up in the dataset folder `root` first,
    then under `base` (as the data scan reads it)."""
    path = os.path.expanduser(labels_csv)
    if os.path.isabs(path):
        return path
    if root and os.path.isfile(os.path.join(_absolute(root), path)):
        return os.path.abspath(os.path.join(_absolute(root), path))
    return os.path.abspath(os.path.join(base, path))


def relative_path(target: str, base: str) -> str:
    """`target` relative to folder `base` (both absolute), with forward slashes; absolute if it has no relative
    form."""
    try:
        return PurePath(os.path.relpath(target, base)).as_posix()  # forward slashes read back on every system
    except ValueError:  # on Windows, a path on another drive has no relative form: it stays absolute
        return target


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _is_inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False
