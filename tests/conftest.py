"""Test-wide settings: offscreen Qt, a private cache folder, few torch threads."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Decoded-image caches and the demo dataset go to a temporary folder, not the user's home."""
    folder = tmp_path_factory.mktemp("workbench-cache")
    os.environ["PRETEXT_WORKBENCH_CACHE"] = str(folder)
    yield folder


@pytest.fixture
def window(qtbot, monkeypatch, tmp_path):
    """The main window, shown, with settings in `tmp_path`; any training is stopped afterwards."""
    from gui_helpers import use_private_settings
    from workbench.gui.app import MainWindow
    from workbench.gui.workers import finish_running_jobs

    use_private_settings(monkeypatch, tmp_path)
    main = MainWindow(scan_on_open=False)
    qtbot.addWidget(main)
    main.resize(1300, 850)
    main.show()
    yield main
    main.train_panel.stop_and_wait()
    finish_running_jobs()
