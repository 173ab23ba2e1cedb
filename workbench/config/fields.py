"""`setting()`: a dataclass field that carries its help text and bounds.

Forms (GUI) and validation (YAML loading) both read this metadata, so a setting is described once.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence


class Choices(tuple):
    """Allowed values of a setting: the listed ones, plus any text that starts with one of `open_prefixes` (a
    family of names a higher layer owns and checks, e.g. "timm/" for every installed timm model)."""

    def __new__(cls, values: Sequence[Any], open_prefixes: Sequence[str] = ()) -> Choices:
        choices = super().__new__(cls, values)
        choices.open_prefixes = tuple(open_prefixes)
        return choices

    def __contains__(self, value: object) -> bool:
        return super().__contains__(value) or (isinstance(value, str) and value.startswith(self.open_prefixes)
                                               and value not in self.open_prefixes)

    def describe(self) -> str:
        """The allowed values as text: 'a, b, c' or 'a, b, c, or timm/<name>'."""
        listed = ", ".join(str(choice) for choice in self)
        return ", or ".join([listed] + [f"{prefix}<name>" for prefix in self.open_prefixes])

    def hint(self, value: Any) -> str:
        """" (did you mean timm/convnext_atto?)" for a bare name that the first open prefix would admit; else ""."""
        if not self.open_prefixes or not isinstance(value, str) or not value or "/" in value:
            return ""
        return f" (did you mean {self.open_prefixes[0]}{value}?)"


def describe_choices(choices: Sequence[Any]) -> str:
    """Allowed values as the YAML comments and error messages show them."""
    return choices.describe() if isinstance(choices, Choices) else ", ".join(str(choice) for choice in choices)


def setting(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
    label: str | None = None,
    advanced: bool = False,
    path: str | None = None,
) -> Any:
    """A dataclass field with help text, optional inclusive bounds and allowed choices; `choices` may be a
    function, asked each time they are read (a registry that a higher layer fills). `path` marks a setting that
    names a file or folder: "file", "folder" or "weights" (a weights file or a folder holding one); config files
    store it relative to their own folder (`workbench.config.paths`) and forms give it a Browse button."""
    if path not in (None, "file", "folder", "weights"):
        raise ValueError(f"path must be 'file', 'folder' or 'weights', not {path!r}")
    choices = choices if callable(choices) else tuple(choices) if choices else None
    metadata = {"help": help, "min": min, "max": max, "choices": choices,
                "label": label, "advanced": advanced, "path": path}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_info(field: dataclasses.Field) -> dict[str, Any]:
    """The metadata of a field made with `setting()` (empty values for a plain field)."""
    info = {"help": "", "min": None, "max": None, "choices": None, "label": None, "advanced": False, "path": None}
    info.update(field.metadata)
    if callable(info["choices"]):
        choices = info["choices"]()
        info["choices"] = (choices if isinstance(choices, Choices) else tuple(choices)) or None
    if not info["label"]:
        info["label"] = field.name.replace("_", " ").capitalize()
    return info
