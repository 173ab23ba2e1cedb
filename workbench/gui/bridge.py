"""The one bridge between the trainer and Qt: runs a Trainer on a worker thread and re-emits its events
as a Qt signal, which Qt delivers on the GUI thread (DESIGN rule 2)."""
from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from workbench.config import RunConfig
from workbench.control import RunControl
from workbench.engine.events import FailedEvent
from workbench.gui.workers import readable_error


class _TrainerThread(QThread):
    def __init__(self, bridge: "TrainingBridge"):
        super().__init__()
        self._bridge = bridge

    def run(self) -> None:
        bridge = self._bridge
        try:
            from workbench.engine.trainer import Trainer  # heavy import (torch models), kept off start-up

            trainer = Trainer(bridge.config, run_dir=bridge.run_dir, control=bridge.control, resume=bridge.resume)
            bridge.run_dir = trainer.run_dir
            trainer.run(bridge.event.emit)
        except Exception as error:  # the trainer reports its own failures; this catches set-up errors
            bridge.traceback_text = traceback.format_exc()
            bridge.event.emit(FailedEvent(step=0, message=readable_error(error), checkpoint=None))


class TrainingBridge(QObject):
    """Train `config` in the background. `event` carries every engine event; `ended` fires when the thread ends."""

    event = Signal(object)
    ended = Signal()

    def __init__(self, config: RunConfig, run_dir: str | Path | None = None, resume: bool = False,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.config = config
        self.run_dir = Path(run_dir) if run_dir else None
        self.resume = resume
        self.control = RunControl()
        self.traceback_text = ""
        self._thread = _TrainerThread(self)
        self._thread.finished.connect(self.ended)

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        self.control.pause()

    def resume_training(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        """Ask the trainer to stop after the current step; it saves a checkpoint first."""
        self.control.cancel()

    @property
    def paused(self) -> bool:
        return self.control.paused

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, milliseconds: int = -1) -> bool:
        """Block until the training thread ends (for shutdown and tests)."""
        return self._thread.wait() if milliseconds < 0 else self._thread.wait(milliseconds)
