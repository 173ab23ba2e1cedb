"""Forms generated from the config dataclasses: one editor per field, no hand-written widget per setting.

The editor comes from the field's type and metadata (`workbench.config.field_info`): whole numbers get a
spin box with the field's bounds, numbers a spin box that accepts any notation (1e-4), true/false a check
box, a field with choices a drop-down, text a line edit (with a Browse button for paths). The help text is
the tooltip and, shortened, a caption under the editor. Advanced fields sit in a collapsed section.
Problems found by validation are shown at the field they concern (`show_problems`).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Iterable, Sequence

import yaml
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from workbench.config import field_info

Problem = tuple[str, str]
INT_LIMIT = 2**31 - 1


def first_sentence(text: str) -> str:
    """The help text up to its first full stop: the caption shown under an editor."""
    text = text.strip()
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def path_kind(name: str) -> str | None:
    """'folder' or 'file' for text settings that hold a path (by naming convention), else None."""
    if name == "root" or name.endswith("_dir"):
        return "folder"
    if name.endswith(("_csv", "_path", "_file", "weights")):
        return "file"
    return None


class NumberSpinBox(QDoubleSpinBox):
    """A spin box for real numbers of any scale: shows 0.002 or 1e-05, steps by the value's own decade."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt override)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: D102
        candidate = text.strip().replace(",", ".")
        try:
            value = float(candidate)
        except ValueError:
            partial = candidate in ("", "-", "+", ".") or candidate.lower().endswith(("e", "e-", "e+"))
            return (QValidator.State.Intermediate if partial else QValidator.State.Invalid), text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value()
        if value != 0:
            step = 10 ** math.floor(math.log10(abs(value)) + 1e-9)
            if steps < 0 and abs(value) <= step * (1 + 1e-9):  # going below the decade: use the finer one
                step /= 10
        else:
            span = self.maximum() - self.minimum()
            step = 0.05 if span <= 1 else 1.0
        self.setValue(value + steps * step)


@dataclasses.dataclass
class _Row:
    name: str
    kind: Any
    editor: QWidget
    value_widget: QWidget
    error_label: QLabel


class ConfigForm(QWidget):
    """A form for one config dataclass, at `path` in the run config (e.g. "train", "tasks.simclr")."""

    changed = Signal()

    def __init__(self, config_type: type, path: str, fields: Sequence[str] | None = None,
                 exclude: Iterable[str] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.config_type = config_type
        self.path = path
        self._rows: dict[str, _Row] = {}
        self._setting = False
        hints = typing.get_type_hints(config_type)
        chosen = [f for f in dataclasses.fields(config_type)
                  if (fields is None or f.name in fields) and f.name not in set(exclude)]
        if fields is not None:
            chosen.sort(key=lambda f: list(fields).index(f.name))

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(6)
        basic = self._new_form_layout()
        outer.addLayout(basic)
        advanced_fields = [f for f in chosen if field_info(f)["advanced"]]
        for f in chosen:
            if not field_info(f)["advanced"]:
                self._add_row(basic, f, hints[f.name])
        self.advanced_toggle: QToolButton | None = None
        if advanced_fields:
            self.advanced_toggle = QToolButton(self)
            self.advanced_toggle.setText("Advanced settings")
            self.advanced_toggle.setObjectName(f"{path}.advanced")
            self.advanced_toggle.setAccessibleName(f"Show advanced settings ({path})")
            self.advanced_toggle.setCheckable(True)
            self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
            self.advanced_toggle.setAutoRaise(True)
            outer.addWidget(self.advanced_toggle)
            advanced_box = QWidget(self)
            advanced_layout = self._new_form_layout()
            advanced_box.setLayout(advanced_layout)
            for f in advanced_fields:
                self._add_row(advanced_layout, f, hints[f.name])
            advanced_box.setVisible(False)
            outer.addWidget(advanced_box)
            self.advanced_toggle.toggled.connect(advanced_box.setVisible)
            self.advanced_toggle.toggled.connect(lambda on: self.advanced_toggle.setArrowType(
                Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow))
        self.set_values(config_type())

    @staticmethod
    def _new_form_layout() -> QFormLayout:
        layout = QFormLayout()
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        layout.setHorizontalSpacing(14)
        layout.setVerticalSpacing(10)
        return layout

    # -- building -------------------------------------------------------------------------------------
    def _add_row(self, layout: QFormLayout, f: dataclasses.Field, kind: Any) -> None:
        info = field_info(f)
        editor = self._make_editor(f.name, kind, info)
        editor.setObjectName(self.field_path(f.name))
        editor.setAccessibleName(info["label"])
        editor.setAccessibleDescription(info["help"])
        editor.setToolTip(info["help"])
        value_widget = editor
        kind_of_path = path_kind(f.name) if kind is str and not info["choices"] else None
        if kind_of_path:
            value_widget = self._with_browse_button(editor, kind_of_path, info["label"])
        column = QWidget(self)
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.setSpacing(2)
        column_layout.addWidget(value_widget)
        caption = QLabel(first_sentence(info["help"]), column)
        caption.setWordWrap(True)
        caption.setProperty("role", "caption")
        column_layout.addWidget(caption)
        error_label = QLabel(column)
        error_label.setWordWrap(True)
        error_label.setProperty("role", "error")
        error_label.setObjectName(f"{self.field_path(f.name)}.error")
        error_label.setVisible(False)
        column_layout.addWidget(error_label)
        label = QLabel(info["label"], self)
        label.setToolTip(info["help"])
        label.setBuddy(editor)
        layout.addRow(label, column)
        self._rows[f.name] = _Row(f.name, kind, editor, value_widget, error_label)

    def _make_editor(self, name: str, kind: Any, info: dict[str, Any]) -> QWidget:
        if info["choices"]:
            combo = QComboBox(self)
            for choice in info["choices"]:
                combo.addItem(self._choice_text(name, choice), choice)
            combo.currentIndexChanged.connect(self._emit_changed)
            return combo
        if kind is bool:
            box = QCheckBox(self)
            box.toggled.connect(self._emit_changed)
            return box
        if kind is int:
            spin = QSpinBox(self)
            spin.setRange(int(max(info["min"] if info["min"] is not None else -INT_LIMIT, -INT_LIMIT)),
                          int(min(info["max"] if info["max"] is not None else INT_LIMIT, INT_LIMIT)))
            spin.setGroupSeparatorShown(True)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._emit_changed)
            self._size_spin(spin)
            return spin
        if kind is float:
            spin = NumberSpinBox(self)
            spin.setRange(info["min"] if info["min"] is not None else -1e300,
                          info["max"] if info["max"] is not None else 1e300)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._emit_changed)
            self._size_spin(spin)
            return spin
        line = QLineEdit(self)  # text, or any other type written as YAML (e.g. a list: [1, 2])
        line.editingFinished.connect(self._emit_changed)
        return line

    @staticmethod
    def _size_spin(spin: QWidget) -> None:
        spin.setMinimumWidth(120)
        spin.setMaximumWidth(220)
        spin.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    @staticmethod
    def _choice_text(name: str, choice: Any) -> str:
        if name == "channels" and choice == 0:
            return "auto (from the data)"
        return str(choice)

    def _with_browse_button(self, line: QLineEdit, kind: str, label: str) -> QWidget:
        box = QWidget(self)
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(line, 1)
        button = QToolButton(box)
        button.setText("Browse…")
        button.setAccessibleName(f"Browse for {label}")
        button.setObjectName(f"{line.objectName() or label}.browse")

        def browse() -> None:
            if kind == "folder":
                chosen = QFileDialog.getExistingDirectory(self, label, line.text())
            else:
                chosen, _ = QFileDialog.getOpenFileName(self, label, line.text())
            if chosen:
                line.setText(chosen)
                self._emit_changed()

        button.clicked.connect(browse)
        layout.addWidget(button)
        return box

    def _emit_changed(self, *_args: Any) -> None:
        if not self._setting:
            self.changed.emit()

    # -- values ---------------------------------------------------------------------------------------
    def field_path(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def editor(self, name: str) -> QWidget:
        """The editor widget of field `name`."""
        return self._rows[name].editor

    def field_names(self) -> list[str]:
        return list(self._rows)

    def field_values(self) -> dict[str, Any]:
        """The edited values of this form's fields. Text that is not valid YAML stays text."""
        values = {}
        for name, row in self._rows.items():
            editor = row.editor
            if isinstance(editor, QComboBox):
                values[name] = editor.currentData()
            elif isinstance(editor, QCheckBox):
                values[name] = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.interpretText()
                values[name] = editor.value()
            elif row.kind is str:
                values[name] = editor.text()
            else:
                try:
                    values[name] = yaml.safe_load(editor.text())
                except yaml.YAMLError:
                    values[name] = editor.text()
        return values

    def values(self, base: Any | None = None) -> Any:
        """A config object with this form's values over `base` (default: the dataclass defaults)."""
        base = base if base is not None else self.config_type()
        return dataclasses.replace(base, **self.field_values())

    def set_values(self, config: Any) -> None:
        """Show the values of `config` (an instance of this form's dataclass)."""
        self._setting = True
        try:
            for name, row in self._rows.items():
                value = getattr(config, name)
                editor = row.editor
                if isinstance(editor, QComboBox):
                    index = editor.findData(value)
                    editor.setCurrentIndex(max(index, 0))
                elif isinstance(editor, QCheckBox):
                    editor.setChecked(bool(value))
                elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                    editor.setValue(value)
                elif row.kind is str:
                    editor.setText(str(value))
                else:
                    editor.setText(yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("..."))
        finally:
            self._setting = False

    # -- problems -------------------------------------------------------------------------------------
    def show_problems(self, problems: Iterable[Problem]) -> list[Problem]:
        """Mark the fields named by `problems`; returns the problems that are not about this form."""
        self.clear_problems()
        elsewhere = []
        for path, message in problems:
            name = path[len(self.path) + 1:] if self.path and path.startswith(self.path + ".") else None
            row = self._rows.get(name) if name else None
            if row is None:
                elsewhere.append((path, message))
                continue
            row.error_label.setText(message[:1].upper() + message[1:])
            row.error_label.setVisible(True)
            row.editor.setProperty("invalid", True)
            _repolish(row.editor)
            if self.advanced_toggle is not None and not row.editor.isVisibleTo(self):
                self.advanced_toggle.setChecked(True)
        return elsewhere

    def clear_problems(self) -> None:
        for row in self._rows.values():
            if row.error_label.isVisible() or row.editor.property("invalid"):
                row.error_label.setVisible(False)
                row.editor.setProperty("invalid", False)
                _repolish(row.editor)

    def problem_at(self, name: str) -> str:
        """The message shown at field `name` ('' when it is fine)."""
        row = self._rows[name]
        return row.error_label.text() if not row.error_label.isHidden() else ""


def _repolish(widget: QWidget) -> None:
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    widget.update()
