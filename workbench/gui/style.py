"""The app's look: Fusion with the system palette (light or dark) plus a few roles in a style sheet."""
from __future__ import annotations

from PySide6.QtWidgets import QApplication

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
QPushButton[primary="true"] {{ font-weight: 600; padding: 6px 18px; }}
"""


def apply_style(app: QApplication) -> None:
    """Fusion style (consistent on every OS, follows the system's light/dark palette) and our roles."""
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE_SHEET)
