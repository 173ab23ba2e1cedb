"""The app's look: Fusion with the system palette (light or dark) plus a few roles in a style sheet."""
from __future__ import annotations

import os

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEME_ENV = "PRETEXT_WORKBENCH_THEME"
"""Set to "dark" or "light" to override the system's colour scheme."""

ERROR_COLOUR = "#d64545"
WARNING_COLOUR = "#c98a00"
OK_COLOUR = "#2e8b57"

STYLE_SHEET = f"""
QLabel[role="caption"] {{ color: rgba(128, 128, 128, 1); font-size: 9pt; }}
QLabel[role="error"] {{ color: {ERROR_COLOUR}; font-weight: 600; }}
QLabel[role="title"] {{ font-size: 15pt; font-weight: 600; }}
QLabel[role="subtitle"] {{ color: rgba(128, 128, 128, 1); }}
QLabel[role="metric"] {{ font-size: 11pt; font-weight: 600; }}
*[invalid="true"] {{ border: 2px solid {ERROR_COLOUR}; border-radius: 3px; }}
QGroupBox {{ font-weight: 600; border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 6px;
             margin-top: 14px; padding: 12px 10px 10px 10px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
QListWidget#workflowSteps {{ font-size: 11pt; border: none; outline: 0; }}
QListWidget#workflowSteps::item {{ padding: 10px 12px; border-radius: 6px; margin: 2px 8px; }}
QListWidget#workflowSteps::item:selected {{ background: palette(highlight); color: palette(highlighted-text); }}
QFrame#banner[level="info"] {{ background: rgba(52, 120, 246, 0.14); border: 1px solid rgba(52, 120, 246, 0.5);
                               border-radius: 6px; }}
QFrame#banner[level="warning"] {{ background: rgba(230, 160, 0, 0.16); border: 1px solid {WARNING_COLOUR};
                                  border-radius: 6px; }}
QFrame#banner[level="error"] {{ background: rgba(214, 69, 69, 0.14); border: 1px solid {ERROR_COLOUR};
                                border-radius: 6px; }}
QToolButton[role="section"] {{ border: none; background: transparent; padding: 2px 0; }}
QPushButton[primary="true"] {{ font-weight: 600; padding: 6px 18px; }}
"""


def dark_palette() -> QPalette:
    """A dark palette for Fusion (for systems whose theme does not provide one)."""
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#202124", QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a", QPalette.ColorRole.AlternateBase: "#26282b",
        QPalette.ColorRole.ToolTipBase: "#2b2d31", QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.Text: "#e8eaed", QPalette.ColorRole.Button: "#2b2d31",
        QPalette.ColorRole.ButtonText: "#e8eaed", QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: "#3478f6", QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#8ab4f8", QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Mid: "#3c4043", QPalette.ColorRole.Dark: "#111214", QPalette.ColorRole.Light: "#4a4d52",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7d8187"))
    return palette


def apply_style(app: QApplication) -> None:
    """Fusion style (consistent on every OS, follows the system's light/dark palette) and our roles."""
    app.setStyle("Fusion")
    if os.environ.get(THEME_ENV, "").lower() == "dark":
        app.setPalette(dark_palette())
    elif os.environ.get(THEME_ENV, "").lower() == "light":
        app.setPalette(app.style().standardPalette())
    app.setStyleSheet(STYLE_SHEET)
