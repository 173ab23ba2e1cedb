"""The README's screenshots of the real app, at 1366 x 768, offscreen, with private settings and runs.

    .venv/bin/python scripts/screenshots.py OUT_DIR

Trains for real on the demo scans (and on a generated 10-class folder for the embedding map): about a minute
on a laptop CPU.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from PySide6.QtWidgets import QApplication, QToolButton  # noqa: E402

from workbench.bench.synthetic_folder import png_bytes  # noqa: E402
from workbench.gui import settings  # noqa: E402
from workbench.gui.app import MainWindow, application, open_window  # noqa: E402

WIDTH, HEIGHT = 1366, 768
CT_SLICE = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"


def wait_until(condition, timeout: float = 300.0) -> None:
    """Let the window work (events, its worker threads) until `condition()` holds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {condition}")
        QApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() > end)


def shoot(window: MainWindow, out_dir: Path, name: str) -> None:
    settle()
    path = out_dir / f"{name}.png"
    window.grab().save(str(path))
    print(path)


def ten_class_folder(root: Path, per_class: int = 24, side: int = 48) -> Path:
    """Ten classes of striped images (class = stripe angle), random phase and noise."""
    rng = np.random.default_rng(10)
    y, x = np.mgrid[0:side, 0:side] / side
    for label in range(10):
        angle = np.pi * label / 10
        folder = root / f"angle {18 * label:03d}"
        folder.mkdir(parents=True)
        for index in range(per_class):
            wave = np.sin(2 * np.pi * 4 * (x * np.cos(angle) + y * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
            pixels = np.clip(128 + 90 * wave + rng.normal(0, 25, wave.shape), 0, 255).astype(np.uint8)
            (folder / f"{index:02d}.png").write_bytes(png_bytes(pixels))
    return root


def train(window: MainWindow, steps: int, stop_at: int | None = None) -> None:
    """Press "Train on this dataset ▸" for a run of `steps` steps; return when it ends (Stop at `stop_at`)."""
    config = window.current_config()
    config.train.steps = steps
    window.apply_config(config, rescan=False)
    window.show_step("Dataset")
    window.dataset_panel.train_button.click()
    wait_until(window.train_panel.is_training)
    if stop_at:
        wait_until(lambda: window.train_panel.progress.value() >= stop_at)
        window.train_panel.stop()
    wait_until(lambda: not window.train_panel.is_training())


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="workbench-screenshots-"))
    os.environ[settings.SETTINGS_ENV] = str(work / "settings.ini")
    application()
    window = open_window()
    window.resize(WIDTH, HEIGHT)
    config = window.current_config()
    config.output.out_dir = str(work / "runs")
    window.apply_config(config, rescan=False)
    wait_until(lambda: window.dataset_panel.scan_result is not None and not window.dataset_panel.scanning()
               and not window.device_label.text().endswith("checking…"))
    shoot(window, out_dir, "first_launch")
    window.welcome.findChild(QToolButton).click()
    shoot(window, out_dir, "dataset")

    train(window, steps=80, stop_at=40)
    shoot(window, out_dir, "train")
    window.train_panel.continue_button.click()
    wait_until(window.train_panel.is_training)
    wait_until(lambda: not window.train_panel.is_training())
    shoot(window, out_dir, "resumed")

    window.show_step("Evaluate")
    window.evaluate_panel.probe_button.click()
    wait_until(lambda: not window.evaluate_panel.busy())
    window.evaluate_panel.rank_button.click()
    wait_until(lambda: not window.evaluate_panel.busy())
    shoot(window, out_dir, "evaluate")
    window.evaluate_panel.lower_tabs.setCurrentWidget(window.evaluate_panel.try_box)
    window.evaluate_panel.try_box.try_image(CT_SLICE)
    wait_until(lambda: not window.evaluate_panel.try_box.busy())
    shoot(window, out_dir, "try_image_ood")

    window.open_dataset(str(ten_class_folder(work / "ten classes")))
    wait_until(lambda: not window.dataset_panel.scanning())
    train(window, steps=60)
    window.train_panel.tabs.setCurrentWidget(window.train_panel.embedding_view)
    shoot(window, out_dir, "embedding")

    window.show_step("Runs")
    wait_until(lambda: not window.runs_panel.loading() and len(window.runs_panel.runs) == 2)
    window.runs_panel.select_run(window.runs_panel.runs[-1].path)
    shoot(window, out_dir, "runs")
    window.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
