"""Forms generated from the config dataclasses: one editor per field, no hand-written widget per setting.

The editor comes from the field's type and metadata (`workbench.config.field_info`): numbers get a text field
that keeps what is typed and refuses, at the field, text that is not a number of the field's kind or lies
outside its bounds (never clamped or replaced); true/false a check box, a field with choices a drop-down,
text a line edit (with a Browse button for paths;
"Choose weights…" with recent choices for starting weights). The help text is the tooltip and, shortened, a caption
under the editor. Advanced fields sit in a collapsed section.

A form edits over the config it was last given (`set_values`): reading it back (`values`) gives that config
with this form's fields as shown, so nothing the form does not show falls back to a default. Problems found
by validation are shown at the field they concern (`show_problems`), beside the form's own refusals.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from typing import Any, Iterable, Sequence

import yaml
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from workbench.config import field_info
from workbench.gui.backbone_picker import BackbonePicker
from workbench.gui.weights_chooser import WeightsChooser

Problem = tuple[str, str]
GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
"""A number whose commas group thousands (100,000 or 1,500.25): the only commas a number field accepts."""


def first_sentence(text: str) -> str:
    """The help text up to its first full stop: the caption shown under an editor."""
    text = text.strip()
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def format_number(value: float, kind: type) -> str:
    """`value` as a number field shows it: whole numbers with thousands grouped, others in the shortest text
    that reads back as the same float (0.002, 1e-05, 1500)."""
    if kind is int:
        return f"{value:,}"
    return repr(float(value)).removesuffix(".0")


def parse_number(text: str, kind: type) -> int | float | None:
    """The number of `kind` (int or float) that `text` spells, or None (not a number, not whole, not finite)."""
    text = text.strip()
    if GROUPED.fullmatch(text):
        text = text.replace(",", "")
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if kind is int or math.isfinite(value) else None


def allowed_range(kind: type, minimum: float | None, maximum: float | None) -> str:
    """The bounds in words: 'between 2 and 65,536', 'at least 0', 'at most 5', or '' when unbounded."""
    low = format_number(minimum, kind) if minimum is not None else None
    high = format_number(maximum, kind) if maximum is not None else None
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}" if high is not None else ""


class NumberEdit(QLineEdit):
    """A text field for one number. What is typed stays as typed: text that is not a number of the field's kind,
    or lies outside its bounds, is refused (`problem`), never clamped, rounded or replaced."""

    def __init__(self, kind: type, minimum: float | None, maximum: float | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind, self.minimum, self.maximum = kind, minimum, maximum
        self.setPlaceholderText(allowed_range(kind, minimum, maximum))

    def value(self) -> int | float | str:
        """The number typed, or the text itself when it is not one (so validation still names the field)."""
        number = parse_number(self.text(), self.kind)
        return self.text() if number is None else number

    def setValue(self, value: Any) -> None:  # noqa: N802 (the spin boxes' name, kept for callers)
        """Show `value`, unless the text already reads as it (what is being typed is not reformatted)."""
        if self.value() != value:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            self.setText(format_number(value, self.kind) if number else str(value))

    def problem(self) -> str:
        """Why the text is refused ('' when it is a number within the bounds)."""
        number = parse_number(self.text(), self.kind)
        if number is None:
            return "must be a whole number" if self.kind is int else "must be a number"
        too_low = self.minimum is not None and number < self.minimum
        too_high = self.maximum is not None and number > self.maximum
        return f"must be {allowed_range(self.kind, self.minimum, self.maximum)}" if too_low or too_high else ""


class Collapsible(QWidget):
    """A section under an arrow button that shows or hides it (hidden at first)."""

    def __init__(self, title: str, name: str, body: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.toggle = QToolButton(self)
        self.toggle.setText(title)
        self.toggle.setObjectName(name)
        self.toggle.setAccessibleName(f"Show {title.lower()}")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.setProperty("role", "section")
        layout.addWidget(self.toggle)
        body.setParent(self)
        body.setVisible(False)
        layout.addWidget(body)
        self.toggle.toggled.connect(body.setVisible)
        self.toggle.toggled.connect(lambda on: self.toggle.setArrowType(
            Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow))

    def expand(self) -> None:
        self.toggle.setChecked(True)


def expand_around(widget: QWidget) -> None:
    """Open every collapsed section that holds `widget`, so it can be seen."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, Collapsible):
            parent.expand()
        parent = parent.parentWidget()


@dataclasses.dataclass
class _Row:
    name: str
    kind: Any
    editor: QWidget
    error_label: QLabel
    problem: str = ""
    """The message validation last gave for this field (until it is edited or validated again)."""
    layout: QFormLayout | None = None
    """The form layout holding the row (to show or hide it)."""


class ConfigForm(QWidget):
    """A form for one config dataclass, at `path` in the run config (e.g. "train", "tasks.simclr"): the fields
    named in `fields` (all by default) less those in `exclude`."""

    changed = Signal()

    def __init__(self, config_type: type, path: str, fields: Sequence[str] | None = None,
                 exclude: Iterable[str] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.config_type = config_type
        self.path = path
        self._rows: dict[str, _Row] = {}
        self._setting = False
        self._config = config_type()
        hints = typing.get_type_hints(config_type)
        chosen = self._chosen_fields(fields, exclude)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(6)
        basic = self._new_form_layout()
        outer.addLayout(basic)
        for f in chosen:
            if not field_info(f)["advanced"]:
                self._add_row(basic, f, hints[f.name])
        advanced_fields = [f for f in chosen if field_info(f)["advanced"]]
        if advanced_fields:
            box = QWidget(self)
            layout = self._new_form_layout()
            box.setLayout(layout)
            for f in advanced_fields:
                self._add_row(layout, f, hints[f.name])
            advanced = Collapsible("Advanced settings", f"{path}.advanced", box, self)
            advanced.toggle.setAccessibleName(f"Show advanced settings ({path})")
            outer.addWidget(advanced)
        self.set_values(self._config)

    def _chosen_fields(self, fields: Sequence[str] | None, exclude: Iterable[str]) -> list[dataclasses.Field]:
        """The dataclass fields to show, in `fields`' order; a name that is not a field is an error."""
        by_name = {f.name: f for f in dataclasses.fields(self.config_type)}
        excluded = set(exclude)
        unknown = sorted((set(fields or ()) | excluded) - set(by_name))
        if unknown:
            raise ValueError(f"{self.config_type.__name__} has no field {', '.join(unknown)}")
        names = list(fields) if fields is not None else list(by_name)
        return [by_name[name] for name in names if name not in excluded]

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
        if info["path"]:
            value_widget = self._with_browse_button(editor, info["path"], info["label"])
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
        row = _Row(f.name, kind, editor, error_label, layout=layout)
        self._rows[f.name] = row
        if isinstance(editor, BackbonePicker):
            editor.settings_apply.connect(self._show_applying)
        self._signal_of(editor).connect(lambda *_args: self._edited(row))

    def _make_editor(self, name: str, kind: Any, info: dict[str, Any]) -> QWidget:
        if self.field_path(name) == "model.backbone":
            return BackbonePicker(self)  # built-ins and every timm model: searched, not scrolled
        if info["choices"]:
            combo = QComboBox(self)
            for choice in info["choices"]:
                combo.addItem(self._choice_text(name, choice), choice)
            return combo
        if kind is bool:
            return QCheckBox(self)
        if kind in (int, float):
            edit = NumberEdit(kind, info["min"], info["max"], self)
            edit.setMinimumWidth(120)
            edit.setMaximumWidth(220)
            edit.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            return edit
        return QLineEdit(self)  # text, or any other type written as YAML (e.g. a list: [1, 2])

    @staticmethod
    def _signal_of(editor: QWidget):
        """The signal an editor gives when its value changes (a number field: at every keystroke, so a refusal
        shows at once; other text: when editing is finished)."""
        if isinstance(editor, QComboBox):
            return editor.currentIndexChanged
        if isinstance(editor, BackbonePicker):
            return editor.edited
        if isinstance(editor, QCheckBox):
            return editor.toggled
        if isinstance(editor, NumberEdit):
            return editor.textChanged
        return editor.editingFinished

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
        if kind == "weights":  # a file or a folder, with the recent choices; under the path, which needs the width
            chooser = WeightsChooser(line, label, box)
            chooser.setObjectName(f"{line.objectName() or label}.browse")
            layout.setDirection(QHBoxLayout.Direction.TopToBottom)
            layout.addWidget(chooser, 0, Qt.AlignmentFlag.AlignLeft)
            return box
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
                line.editingFinished.emit()

        button.clicked.connect(browse)
        layout.addWidget(button)
        return box

    def _show_applying(self, applies: dict[str, bool]) -> None:
        """Show the rows of this form's per-backbone settings that apply to the chosen backbone, hide the others."""
        for name, on in applies.items():
            row = self._rows.get(name)
            if row is not None:
                row.layout.setRowVisible(row.error_label.parentWidget(), on)

    def _edited(self, row: _Row) -> None:
        """A field changed (not by `set_values`): its old problem is gone until validation says otherwise."""
        if self._setting:
            return
        row.problem = ""
        self._show_message(row)
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
        """The edited values of this form's fields: a refused number stays the text typed, and text that is not
        valid YAML stays text."""
        values = {}
        for name, row in self._rows.items():
            editor = row.editor
            if isinstance(editor, QComboBox):
                values[name] = editor.currentData()
            elif isinstance(editor, BackbonePicker):
                values[name] = editor.value()
            elif isinstance(editor, QCheckBox):
                values[name] = editor.isChecked()
            elif isinstance(editor, NumberEdit):
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
        """`base` (default: the config last given to `set_values`) with this form's fields as shown."""
        return dataclasses.replace(base if base is not None else self._config, **self.field_values())

    def set_values(self, config: Any) -> None:
        """Show the values of `config` (an instance of this form's dataclass), which the form now edits."""
        self._config = config
        self._setting = True
        try:
            for name, row in self._rows.items():
                value = getattr(config, name)
                editor = row.editor
                if isinstance(editor, QComboBox):
                    editor.setCurrentIndex(max(editor.findData(value), 0))
                elif isinstance(editor, BackbonePicker):
                    editor.set_value(value)
                elif isinstance(editor, QCheckBox):
                    editor.setChecked(bool(value))
                elif isinstance(editor, NumberEdit):
                    editor.setValue(value)
                elif row.kind is str:
                    editor.setText(str(value))
                else:
                    editor.setText(yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("..."))
                self._show_message(row)
        finally:
            self._setting = False

    # -- problems -------------------------------------------------------------------------------------
    def refusals(self) -> list[Problem]:
        """(field path, message) for each number field whose text is refused."""
        return [(self.field_path(name), row.editor.problem()) for name, row in self._rows.items()
                if isinstance(row.editor, NumberEdit) and row.editor.problem()]

    def show_problems(self, problems: Iterable[Problem]) -> list[Problem]:
        """Mark the fields named by `problems`; returns the problems that are not about this form."""
        for row in self._rows.values():
            row.problem = ""
        elsewhere = []
        for path, message in problems:
            name = path[len(self.path) + 1:] if self.path and path.startswith(self.path + ".") else None
            row = self._rows.get(name) if name else None
            if row is None:
                elsewhere.append((path, message))
                continue
            row.problem = f"{row.problem}; {message}" if row.problem else message
        for row in self._rows.values():
            self._show_message(row)
        return elsewhere

    def _show_message(self, row: _Row) -> None:
        """Show at the field its refusal of what was typed, else the problem validation found ('' hides it)."""
        message = (row.editor.problem() if isinstance(row.editor, NumberEdit) else "") or row.problem
        text = message[:1].upper() + message[1:]
        if text == row.error_label.text() and bool(message) == bool(row.editor.property("invalid")):
            return
        row.error_label.setText(text)
        row.error_label.setVisible(bool(message))
        column = row.error_label.parentWidget()  # its height changed: told at once, the form layout spreads the
        QTimer.singleShot(0, column, column.updateGeometry)  # change over every row and squashes this one
        row.editor.setProperty("invalid", bool(message))
        repolish(row.editor)
        if message:
            expand_around(row.editor)

    def problem_at(self, name: str) -> str:
        """The message shown at field `name` ('' when it is fine)."""
        row = self._rows[name]
        return row.error_label.text() if not row.error_label.isHidden() else ""


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet to `widget` after a property it is styled by (invalid, role) changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)
    widget.update()
