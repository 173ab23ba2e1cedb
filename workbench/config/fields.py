"""`setting()`: a dataclass field that carries its help text and bounds.

Forms (GUI) and validation (YAML loading) both read this metadata, so a setting is described once.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence


def setting(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
    label: str | None = None,
    advanced: bool = False,
) -> Any:
    """A dataclass field with help text, optional inclusive bounds and allowed choices; `choices` may be a
    function, asked each time they are read (a registry that a higher layer fills)."""
    choices = choices if callable(choices) else tuple(choices) if choices else None
    metadata = {"help": help, "min": min, "max": max, "choices": choices,
                "label": label, "advanced": advanced}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_info(field: dataclasses.Field) -> dict[str, Any]:
    """The metadata of a field made with `setting()` (empty values for a plain field)."""
    info = {"help": "", "min": None, "max": None, "choices": None, "label": None, "advanced": False}
    info.update(field.metadata)
    if callable(info["choices"]):
        info["choices"] = tuple(info["choices"]()) or None
    if not info["label"]:
        info["label"] = field.name.replace("_", " ").capitalize()
    return info
