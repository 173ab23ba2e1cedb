"""Every setting of a run config survives the window: a config whose every leaf (every registered task's settings
included, plugins too) differs from its default is loaded, shown in some panel, and read back unchanged the way
Start and Save read it. The config is generated from the dataclasses' metadata, so a new setting is covered
without touching this test."""
from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

from test_plugins import PROJECT_PLUGINS  # noqa: E402
from workbench.config import ConfigError, RunConfig, extras, field_info, save_config  # noqa: E402
from workbench.tasks import load_config, load_plugins, registered_tasks, validate_config  # noqa: E402

REPAIR_ROUNDS = 20


def leaves(config: Any, path: str = "") -> dict[str, tuple[dataclasses.Field, type, Any]]:
    """Every scalar setting of a config tree: dotted path -> (field, type, value); tasks by name."""
    found = {}
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, here = getattr(config, f.name), f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(value):
            found.update(leaves(value, here))
        elif isinstance(value, dict):
            for name, task in value.items():
                found.update(leaves(task, f"{here}.{name}"))
        else:
            found[here] = (f, hints[f.name], value)
    return found


def candidates(f: dataclasses.Field, kind: type, default: Any, path: str, folder: Path) -> list[Any]:
    """Valid values other than `default`, from the field's type, bounds and choices, the likeliest first."""
    info = field_info(f)
    if info["choices"]:
        return [choice for choice in reversed(info["choices"]) if choice != default]
    if kind is bool:
        return [not default]
    if kind is str:
        return [str(folder / path)]  # absolute: a path setting saved and loaded again names the same place
    low, high = info["min"], info["max"]
    middle = (low + high) / 2 if low is not None and high is not None else default + 10
    values = [kind(value) for value in (default * 2, default + 1, middle, low, high) if value is not None]
    inside = [value for value in values if (low is None or value >= low) and (high is None or value <= high)]
    return [value for index, value in enumerate(inside) if value != default and value not in inside[:index]]


def set_leaf(config: RunConfig, path: str, value: Any) -> None:
    """Set the setting at dotted `path` (tasks by name) to `value`."""
    *sections, name = path.split(".")
    node: Any = config
    for section in sections:
        node = node[section] if isinstance(node, dict) else getattr(node, section)
    setattr(node, name, value)


def every_setting_changed(folder: Path) -> RunConfig:
    """A valid config with every registered task and every leaf off its default. Each leaf takes its first
    candidate; while validation names a leaf (as the field or in the message), that leaf takes its next one."""
    config = RunConfig(tasks={name: task.Config() for name, task in registered_tasks().items()})
    options = {path: candidates(f, kind, value, path, folder) for path, (f, kind, value) in leaves(config).items()}
    assert all(options.values()), f"no other valid value for {[p for p, values in options.items() if not values]}"
    chosen = dict.fromkeys(options, 0)
    for _round in range(REPAIR_ROUNDS):
        for path, index in chosen.items():
            set_leaf(config, path, options[path][index])
        try:
            return validate_config(config)
        except ConfigError as error:
            named = {path for path in options for field, message in error.problems
                     if field == path or path in message}
            movable = [path for path in named if chosen[path] + 1 < len(options[path])]
            assert movable, f"no valid non-default values found: {error.problems}"
            for path in movable:
                chosen[path] += 1
    raise AssertionError(f"still invalid after {REPAIR_ROUNDS} rounds")


def values_of(config: RunConfig) -> dict[str, Any]:
    return {path: value for path, (_field, _kind, value) in leaves(config).items()}


def differences(expected: RunConfig, actual: RunConfig) -> list[str]:
    """One line per leaf whose value differs, naming it."""
    want, got = values_of(expected), values_of(actual)
    return [f"{path}: loaded {want.get(path, '(none)')!r}, read back {got.get(path, '(none)')!r}"
            for path in sorted(set(want) | set(got)) if path not in want or path not in got or want[path] != got[path]]


def shown_in_a_panel(window, path: str) -> bool:
    """Whether the setting at `path` has an editor (named by its path) in one of the window's panels."""
    editor = window.findChild(QWidget, path)
    return editor is not None and any(panel.isAncestorOf(editor) for panel in window.panels)


@pytest.fixture
def plugin_window(request):
    """The main window with the project's plugin tasks registered first."""
    load_plugins([PROJECT_PLUGINS])
    return request.getfixturevalue("window")


def test_every_setting_round_trips_through_the_window(plugin_window, tmp_path, monkeypatch):
    window = plugin_window
    monkeypatch.setattr(extras, "installed", lambda _module: True)  # optional map packages: choices count
    config = every_setting_changed(tmp_path / "settings")
    assert "flip_prediction" in config.tasks and set(config.tasks) == set(window.tasks_panel.cards)
    loaded = tmp_path / "loaded.yaml"
    save_config(config, loaded)

    assert window.load_config_file(loaded)
    assert [path for path in leaves(config) if not shown_in_a_panel(window, path)] == []
    assert window.validate() == []
    assert differences(config, window.current_config()) == []  # what Start trains
    saved = tmp_path / "saved.yaml"
    assert window.save_config_file(saved)
    assert differences(config, load_config(saved)) == []  # what Save writes


def test_a_setting_changed_in_the_window_is_the_only_change(plugin_window, tmp_path, monkeypatch):
    window = plugin_window
    monkeypatch.setattr(extras, "installed", lambda _module: True)
    config = every_setting_changed(tmp_path / "settings")
    window.apply_config(config, rescan=False)
    window.dataset_panel.volume_form.editor("slices_per_volume").setText("33,333")
    expected = validate_config(config)
    expected.data.slices_per_volume = 33333
    assert differences(expected, window.current_config()) == []
