"""A watchdog for the GUI's responsiveness: the longest time the event loop went without serving a timer."""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer

TICK_MS = 25
"""Fine enough to see a 100 ms stall; coarse enough that the ticks themselves cost the training nothing."""


class StallMonitor(QObject):
    """Ticks every TICK_MS while started; `longest_stall_ms` is the longest gap between two ticks beyond the
    tick itself, i.e. how long the event loop was busy with something else (a redraw, a slot) at worst."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._last_tick = 0.0
        self.longest_stall_ms = 0.0

    def start(self) -> None:
        """Start measuring afresh."""
        self.longest_stall_ms = 0.0
        self._last_tick = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        """Stop measuring; returns the longest stall in milliseconds."""
        if self._timer.isActive():
            self._tick()
            self._timer.stop()
        return self.longest_stall_ms

    def running(self) -> bool:
        return self._timer.isActive()

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last_tick) * 1000.0 - TICK_MS
        self.longest_stall_ms = max(self.longest_stall_ms, stall)
        self._last_tick = now
