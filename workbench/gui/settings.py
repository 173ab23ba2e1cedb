"""Where the app remembers things between launches (window geometry, recent folders, the last settings and step).

Set the environment variable PRETEXT_WORKBENCH_SETTINGS to an .ini path to keep the settings there
instead of the system's usual place (tests do this, so they never touch a user's settings).
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings

ORGANISATION = "PretextWorkbench"
APPLICATION = "Pretext Workbench"
SETTINGS_ENV = "PRETEXT_WORKBENCH_SETTINGS"
MAX_RECENT = 8
"""How many recent dataset folders, and recent starting weights, are remembered."""


def app_settings() -> QSettings:
    """The app's settings store (an .ini file when PRETEXT_WORKBENCH_SETTINGS is set)."""
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def recent_folders() -> list[str]:
    """Recently opened dataset folders, newest first."""
    return _recent("recent_folders")


def remember_folder(folder: str) -> list[str]:
    """Put `folder` at the top of the recent list; returns the new list."""
    return _remember("recent_folders", folder)


def recent_weights() -> list[str]:
    """Recently chosen starting weights (files or folders), newest first."""
    return _recent("recent_weights")


def remember_weights(path: str) -> list[str]:
    """Put `path` at the top of the recent starting weights; returns the new list."""
    return _remember("recent_weights", path)


def _recent(key: str) -> list[str]:
    value = app_settings().value(key, [])
    if isinstance(value, str):  # QSettings returns a bare string for a one-element list
        value = [value]
    return [str(item) for item in value or []]


def _remember(key: str, item: str) -> list[str]:
    items = ([item] + [old for old in _recent(key) if old != item])[:MAX_RECENT]
    app_settings().setValue(key, items)
    return items


def remember_config(config_yaml: str) -> None:
    """Keep the run config (as YAML, dataset folder included) for the next launch."""
    app_settings().setValue("session/config", config_yaml)


def remembered_config() -> str:
    """The run config kept by `remember_config` ('' when none)."""
    return str(app_settings().value("session/config", "") or "")


def remember_step(step: str) -> None:
    """Keep the workflow step shown, to open on it at the next launch."""
    app_settings().setValue("session/step", step)


def remembered_step() -> str:
    """The workflow step kept by `remember_step` ('' when none)."""
    return str(app_settings().value("session/step", "") or "")


def welcome_dismissed() -> bool:
    """Whether the first-run welcome strip was closed (it then stays closed until Reset to defaults)."""
    return str(app_settings().value("welcome/dismissed", "false")).lower() == "true"


def remember_welcome_dismissed(dismissed: bool) -> None:
    app_settings().setValue("welcome/dismissed", dismissed)
