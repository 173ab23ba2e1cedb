"""The path settings of a config, and how a config file stores them: relative to the file's own folder.

In memory a path setting is what the process can open: absolute, or relative to the working directory.
In a config file, a relative path is relative to the folder holding that file. So a run folder's
config.yaml names its dataset as e.g. ``../../data/scans``: it carries no absolute source path, and the run
folder and the dataset can move together. Paths are joined and shortened lexically (`os.path.abspath`,
`os.path.relpath`), the same way in both directions, so a path saved and loaded again names the same folder.
"""
from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path, PurePath
from typing import Any, Iterator

from workbench.config.fields import field_info
from workbench.config.schema import RunConfig


def path_settings(config: RunConfig) -> Iterator[tuple[Any, str]]:
    """(section object, setting name) of every setting of `config` that names a file or folder (made with
    `setting(path=...)`), the tasks' settings included; the labels CSV, looked up in the dataset folder first,
    is not among them."""
    sections = [getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "tasks"]
    for section in [*sections, *config.tasks.values()]:
        for f in dataclasses.fields(section):
            if field_info(f)["path"] and not (section is config.data and f.name == "labels_csv"):
                yield section, f.name


def paths_relative_to(config: RunConfig, folder: str | Path) -> RunConfig:
    """A copy of `config` whose path settings are relative to `folder` (what a config file in `folder` stores).

    A labels CSV inside the dataset folder is stored relative to the dataset folder, where it is looked up first.
    """
    stored = copy.deepcopy(config)
    base = os.path.abspath(folder)
    for section, name in path_settings(stored):
        value = getattr(section, name)
        if value:
            setattr(section, name, relative_path(_absolute(value), base))
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
    for section, name in path_settings(config):
        value = getattr(section, name)
        if value and not os.path.isabs(os.path.expanduser(value)):
            setattr(section, name, os.path.abspath(os.path.join(base, value)))
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
