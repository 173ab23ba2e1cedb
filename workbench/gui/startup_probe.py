"""Start-up timing for `python main.py bench --startup`.

With PRETEXT_WORKBENCH_STARTUP_PROBE=1 the app prints a marker line (wall-clock time, so the launching
process can subtract its own launch time) when the main window first paints, then presses Start, prints
another when the first loss point is plotted, stops the run and quits.
"""
from __future__ import annotations

import os
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer

PROBE_ENV = "PRETEXT_WORKBENCH_STARTUP_PROBE"
MARKER = "STARTUP-PROBE"
POLL_MS = 10


def probe_enabled() -> bool:
    """Whether this launch is a start-up measurement."""
    return os.environ.get(PROBE_ENV) == "1"


def report(moment: str) -> None:
    """One marker line on stdout: `STARTUP-PROBE <moment> <unix time>`."""
    print(f"{MARKER} {moment} {time.time():.6f}", flush=True)


class StartupProbe(QObject):
    """Watches one MainWindow: first paint, Start pressed, first plotted loss point, then quits."""

    def __init__(self, window, quit_app) -> None:
        super().__init__(window)
        self.window, self.quit_app = window, quit_app
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._check_loss_point)
        window.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if watched is self.window and event.type() == QEvent.Type.Paint:
            self.window.removeEventFilter(self)
            report("window-painted")
            QTimer.singleShot(0, self._press_start)
        return False

    def _press_start(self) -> None:
        report("start-pressed")
        self.window.train_panel.start_button.click()
        self._poll.start()

    def _check_loss_point(self) -> None:
        panel = self.window.train_panel
        if panel.plots.point_count("loss") > 0:
            report("first-loss-point")
            self._poll.stop()
            panel.run_ended.connect(self.quit_app)
            panel.stop()
        elif not panel.is_training() and panel.final_event is not None:
            report("run-ended-without-a-loss-point")
            print(panel.final_event, file=sys.stderr, flush=True)
            self._poll.stop()
            self.quit_app()
