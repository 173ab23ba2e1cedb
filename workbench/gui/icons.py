"""The app's icons: small SVGs in resources/icons (drawn for this project), crisp at any screen scale."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

ICON_FOLDER = Path(__file__).resolve().parents[2] / "resources" / "icons"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """The icon `resources/icons/<name>.svg` (an empty icon when the file is missing)."""
    path = ICON_FOLDER / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
