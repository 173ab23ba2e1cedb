"""The editor of `model.backbone`: a name field that filters the built-in backbones and every installed timm
model as one types, and a line on the chosen one (parameters, embedding size, what input it expects).

timm's names and a backbone's facts are read off the GUI thread (importing timm takes a second or two; the
facts come from a parameter-free instance, `workbench.models.describe_backbone`), each once. Until a timm
backbone's facts are read, checking it would import timm on the GUI thread: `waiting` says so, and validation
waits for `read`. The per-backbone settings that apply to the chosen backbone (`workbench.models.backbone_settings`)
are announced by `settings_apply`, for the form to show only those."""
from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QToolButton, QVBoxLayout, QWidget

from workbench.gui.workers import JobSlot, WhileBusy
from workbench.models import (BACKBONE_SETTINGS, BackboneFacts, backbone_names, backbone_needs_timm, backbone_problem,
                              backbone_settings, describe_backbone)


def facts_text(facts: BackboneFacts) -> str:
    """One line on a backbone: '3.4 M parameters · 320 features · any image side · any channels'."""
    if facts.patch_size and not facts.name.startswith("timm/"):
        size = "ViT: image side a multiple of model.patch_size"
    elif facts.patch_size:
        size = f"ViT, patch {facts.patch_size}: image side a multiple of {facts.patch_size}"
    elif facts.fixed_input_size:
        size = f"built for the run's image side (default {facts.image_size} px)"
    else:
        size = "any image side"
    return f"{facts.parameters / 1e6:.1f} M parameters · {facts.embed_dim} features · {size} · any channels"


class BackbonePicker(QWidget):
    """Type to search the backbones (built-ins, then "timm/<name>"); the list button shows the matches."""

    edited = Signal()
    """The name was changed by the user (a match chosen, or typing finished)."""
    read = Signal()
    """The facts of the name shown were read (or found unreadable): `waiting` no longer holds it up."""
    settings_apply = Signal(dict)
    """{setting: whether it applies} for each of BACKBONE_SETTINGS, once known for the backbone shown."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._names = QStringListModel(backbone_names(), self)
        self._timm_listed = False
        self._facts: dict[str, tuple[str, tuple[str, ...] | None]] = {}
        """Per name read: the facts' line (or why there are none) and the per-backbone settings that apply."""
        self._asked = ""
        self._shown = ""
        self._listing = JobSlot(WhileBusy.IGNORE, self)
        self._describing = JobSlot(WhileBusy.LATEST, self)

        self.line = QLineEdit(self)
        self.line.setObjectName("backbonePickerName")
        self.line.setPlaceholderText("small_cnn, resnet18… or type to search timm (e.g. convnext)")
        self.completer = QCompleter(self._names, self)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setMaxVisibleItems(12)
        self.line.setCompleter(self.completer)
        button = QToolButton(self)
        button.setText("▾")
        button.setObjectName("backbonePickerList")
        button.setAccessibleName("Show the matching backbones")
        button.setToolTip("Show the backbones whose names contain what is typed")
        button.clicked.connect(self.show_matches)
        self.facts = QLabel(self)
        self.facts.setObjectName("backbonePickerFacts")
        self.facts.setProperty("role", "caption")
        self.facts.setWordWrap(True)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.line, 1)
        row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.facts)

        self.line.textEdited.connect(lambda _text: self.list_timm())
        self.line.editingFinished.connect(self._chosen)
        self.completer.activated.connect(lambda _text: self._chosen())

    # -- value ----------------------------------------------------------------------------------------
    def value(self) -> str:
        return self.line.text().strip()

    def set_value(self, name: str) -> None:
        """Show `name` (not an edit: `edited` is not emitted) and its facts."""
        self.line.setText(name)
        self._shown = name
        self.describe(name)

    def _chosen(self) -> None:
        if self.value() != self._shown:
            self._shown = self.value()
            self.describe(self.value())
            self.edited.emit()

    # -- timm's names ---------------------------------------------------------------------------------
    def list_timm(self) -> None:
        """Add every installed timm model to the matches (once, in the background)."""
        if self._timm_listed or self._listing.busy:
            return
        self._listing.run(lambda cancel, progress: backbone_names(include_timm=True), succeeded=self._listed,
                          failed=lambda kind, message: self.facts.setText(f"Cannot list timm's models: {message}"))

    def _listed(self, names: list[str]) -> None:
        self._timm_listed = True
        self._names.setStringList(names)
        if self.line.hasFocus() and self.value():
            self.show_matches()

    def show_matches(self) -> None:
        """Pop up the backbones whose names contain the typed text (all of them when nothing is typed)."""
        self.list_timm()
        self.completer.setCompletionPrefix(self.value())
        self.completer.complete()

    def matches(self) -> list[str]:
        """The names the list now offers for the typed text."""
        self.completer.setCompletionPrefix(self.value())
        found = self.completer.completionModel()
        return [found.index(row, 0).data() for row in range(found.rowCount())]

    # -- facts ----------------------------------------------------------------------------------------
    def describe(self, name: str) -> None:
        """Show the facts of backbone `name` (computed once per name, off the GUI thread)."""
        if not name:
            self.facts.setText("")
        elif name in self._facts:
            self.facts.setText(self._facts[name][0])
        else:
            self.facts.setText("Reading the backbone…")
            self._asked = name
            self._describing.run(lambda cancel, progress: _read(name),
                                 succeeded=lambda result: self._described(name, *result),
                                 failed=lambda kind, message: self._described(name, message, None))
        self._announce_settings(name)

    def _described(self, name: str, text: str, settings: tuple[str, ...] | None) -> None:
        self._facts[name] = (text, settings)
        if name == self.value():
            self.facts.setText(text)
            self._announce_settings(name)
            self.read.emit()

    def waiting(self) -> str:
        """Why the backbone shown cannot be checked yet ('' when it can): a timm one whose facts are still being
        read, as checking it here would import timm on the GUI thread. Its reading is started if need be; `read`
        is emitted when it ends."""
        name = self.value()
        if not backbone_needs_timm(name) or name in self._facts:
            return ""
        if name != self._asked:
            self.describe(name)
        return "still being read (timm loads in the background): it is checked once read"

    def _announce_settings(self, name: str) -> None:
        """Emit `settings_apply` when the settings that apply to `name` are known without waiting: those of a
        built-in backbone, or of a timm one already read."""
        if name in self._facts:
            applying = self._facts[name][1]
        elif backbone_needs_timm(name) or backbone_problem(name):
            applying = None
        else:
            applying = backbone_settings(name)
        if applying is not None:
            self.settings_apply.emit({setting: setting in applying for setting in BACKBONE_SETTINGS})

    def wait(self) -> None:
        """Block until the background reads end (shutdown and tests)."""
        self._listing.wait()
        self._describing.wait()


def _read(name: str) -> tuple[str, tuple[str, ...]]:
    """The facts' line of backbone `name` and the per-backbone settings that apply to it (imports timm for a timm
    backbone: run off the GUI thread)."""
    facts = describe_backbone(name)
    return facts_text(facts), facts.settings
