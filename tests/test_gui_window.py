"""Intensity windows in the app: the chooser, the right-drag on the preview, the CT demo, the HU hints; and the
window's size: it fits a laptop screen, every page reachable and unclipped, and uses a large one.

The pure parts (the window a drag gives, the HU hint, reading modality values) are tested without Qt."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QRect, QSize, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPixmap  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QWidget  # noqa: E402

from data_helpers import write_nifti  # noqa: E402
from gui_helpers import use_private_settings, write_class_folder  # noqa: E402
from workbench.config import AugmentConfig, DataConfig  # noqa: E402
from workbench.data import demo_ct_dataset_dir, read_frames  # noqa: E402
from workbench.data.dicom import modality_values  # noqa: E402
from workbench.data.modality import carries_modality_values, read_modality_image  # noqa: E402
from workbench.data.windows import (WINDOW_PRESETS, describe_jitter_in_hu, dragged_window,  # noqa: E402
                                    format_window, measured_window)
from workbench.engine.presets import use_demo_data  # noqa: E402
from workbench.gui.app import STEPS  # noqa: E402
from workbench.gui.panels.augment import NO_FIXED_WINDOW, TILE, intensity_hint  # noqa: E402
from workbench.gui.panels.dataset import DatasetPanel  # noqa: E402
from workbench.gui.thumbnails import ThumbnailLoader, thumbnail_caption  # noqa: E402
from workbench.gui.widgets import ImageTile  # noqa: E402
from workbench.gui.window_preview import NO_WINDOW_NOTE, preview_row  # noqa: E402

CT_SMALL = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
SOFT_TISSUE = WINDOW_PRESETS["soft_tissue"]


def gray_mean(image: QImage) -> float:
    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(gray.constBits(), np.uint8, gray.sizeInBytes()).reshape(gray.height(), -1)
    return float(rows[:, :gray.width()].mean())


# -- pure parts ---------------------------------------------------------------------------------------------
def test_drag_right_widens_and_down_raises_the_level():
    level, width = SOFT_TISSUE
    assert dragged_window(SOFT_TISSUE, 0, 0) == SOFT_TISSUE
    wider, narrower = dragged_window(SOFT_TISSUE, 150, 0), dragged_window(SOFT_TISSUE, -150, 0)
    assert wider == (level, 2 * width) and narrower == (level, width / 2)
    assert dragged_window(SOFT_TISSUE, 0, 25)[0] == level + 40 and dragged_window(SOFT_TISSUE, 0, -25)[0] == level - 40
    assert dragged_window(SOFT_TISSUE, -100_000, 0)[1] > 0
    assert dragged_window((-600.0, 1500.0), 7, 3) == (-580.0, 1550.0)  # to three significant digits of the width


def test_windows_read_as_radiology_viewers_write_them():
    assert format_window(WINDOW_PRESETS["lung"]) == "W 1500 L −600"
    assert format_window((40.04, 399.7)) == "W 400 L 40"
    assert format_window((40.04, 80.0)) == "W 80 L 40"


def test_measured_window_recovers_the_window_a_reader_applied():
    values = np.linspace(-1000, 1000, 4001, dtype=np.float32)
    level, width = -600.0, 1500.0
    windowed = np.clip((values - (level - width / 2)) / width, 0, 1)
    assert measured_window(values, windowed) == (level, width)
    assert measured_window(values, np.zeros_like(values)) is None  # all clipped: nothing to tell


def test_jitter_bounds_in_hu_follow_the_window_width():
    text = describe_jitter_in_hu(0.2, 0.4, SOFT_TISSUE)
    assert text.startswith("At W 400 L 40: brightness ±0.2 ≈ ±80 HU at the window's top, ±40 HU at the level")
    assert "a 100 HU difference into 60–140 HU" in text
    assert "±600 HU at the window's top" in describe_jitter_in_hu(0.2, 0.4, (40.0, 3000.0))
    augment = AugmentConfig(brightness=0.2, contrast=0.4)
    assert intensity_hint(augment, DataConfig(dicom_window="soft_tissue")) == text
    assert intensity_hint(augment, DataConfig(dicom_window="file")) == NO_FIXED_WINDOW


def test_modality_values_match_pydicom_and_rewindow_as_the_reader_does():
    image = read_modality_image(CT_SMALL, 0, DataConfig())
    dataset = pydicom.dcmread(CT_SMALL)
    assert image.values.dtype == np.float32 and not image.inverted
    np.testing.assert_allclose(image.values, modality_values(dataset.pixel_array, dataset, 0), atol=0.05)
    lung = read_frames(CT_SMALL, DataConfig(dicom_window="lung"))[0].pixels[..., 0]
    np.testing.assert_allclose(image.windowed(WINDOW_PRESETS["lung"]), lung, atol=1e-4)


def test_nifti_values_rewindow_as_the_reader_does(tmp_path):
    volume = np.random.default_rng(0).uniform(-1000, 1000, (12, 10, 3))
    write_nifti(tmp_path / "ct.nii.gz", volume)
    image = read_modality_image(tmp_path / "ct.nii.gz", 1, DataConfig())
    assert np.isclose(np.sort(image.values.ravel()), np.sort(volume[:, :, 1].ravel()), atol=0.05).all()
    bone = read_frames(tmp_path / "ct.nii.gz", DataConfig(dicom_window="bone"))[1].pixels[..., 0]
    np.testing.assert_allclose(image.windowed(WINDOW_PRESETS["bone"]), bone, atol=1e-4)


def record(path: str, channels: int = 1, bits: int = 16) -> SimpleNamespace:
    return SimpleNamespace(path=path, channels=channels, bit_depth=bits)


def test_only_gray_dicom_and_nifti_frames_of_more_than_8_bits_take_a_window():
    assert carries_modality_values(record("ct/IM0001.dcm"))
    assert carries_modality_values(record("mr/brain.nii.gz"))
    assert carries_modality_values(record("series/IM0001"))  # a DICOM file found by its preamble
    assert not carries_modality_values(record("xray.png"))  # 16-bit PNG: used as stored
    assert not carries_modality_values(record("us/IM0001.dcm", channels=3, bits=8))


def test_slices_are_captioned_by_volume_and_place():
    slice_record = SimpleNamespace(path="nodule/case01/IM0008.dcm", volume="v", slice_index=6)
    assert thumbnail_caption(slice_record) == "case01 · 7"
    nifti = SimpleNamespace(path="brains/head.nii.gz", volume="v", slice_index=0)
    assert thumbnail_caption(nifti) == "head.nii.gz · 1"
    assert thumbnail_caption(SimpleNamespace(path="cat/cat_0.png", volume=None)) == "cat_0.png"


def test_a_series_is_first_previewed_at_its_middle_slice():
    volume = [SimpleNamespace(volume="a")] * 5 + [SimpleNamespace(volume="b")] * 3
    assert preview_row(volume) == 2
    assert preview_row([SimpleNamespace(volume=None)] + volume) == 0 and preview_row([]) == -1


def test_the_ct_demo_gets_the_soft_tissue_window():
    data = use_demo_data(DataConfig(image_size=32, dicom_window="bone"), "ct")
    assert data.root == str(demo_ct_dataset_dir()) and data.dicom_window == "soft_tissue" and data.image_size == 32
    assert use_demo_data(data, "scans").root == ""
    with pytest.raises(KeyError):
        use_demo_data(data, "mri")


def test_thumbnails_follow_the_window_they_are_asked_for(qtbot):
    """The loader the Dataset grid and the embedding map's hover previews share: each request is decoded with
    its own settings (for the map, the run's config), so the window shown is the one trained on."""
    loader = ThumbnailLoader()
    images: dict[int, float] = {}
    loader.ready.connect(lambda _generation, row, image: images.__setitem__(row, gray_mean(image)))
    loader.start()
    try:
        for row, mode in enumerate(("lung", "bone")):
            loader.request(0, row, CT_SMALL, 0, DataConfig(dicom_window=mode))
        qtbot.waitUntil(lambda: len(images) == 2, timeout=10000)
    finally:
        loader.stop()
    assert images[0] > images[1] + 20


# -- the app ------------------------------------------------------------------------------------------------
@pytest.fixture
def panel(qtbot, monkeypatch, tmp_path):
    use_private_settings(monkeypatch, tmp_path)
    widget = DatasetPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 760)
    widget.show()
    yield widget
    widget.shutdown()


def open_ct_demo(qtbot, panel: DatasetPanel) -> None:
    with qtbot.waitSignal(panel.scanned, timeout=30000):
        panel.open_demo("ct")
    qtbot.waitUntil(lambda: panel.preview.view.draggable() and not panel.preview.loading(), timeout=10000)


def thumbnail_mean(qtbot, panel: DatasetPanel, row: int, before: float | None = None) -> float:
    """The mean gray of thumbnail `row` once it is decoded (and differs from `before`)."""
    index = panel.thumbnails.index(row)

    def mean() -> float:
        return gray_mean(panel.thumbnails.data(index, Qt.ItemDataRole.DecorationRole).toImage())

    qtbot.waitUntil(lambda: panel.thumbnails.is_loaded(row) and mean() != before, timeout=10000)
    return mean()


def choose_window(panel: DatasetPanel, mode: str) -> None:
    chooser = panel.preview.chooser()
    chooser.setCurrentIndex(chooser.findData(mode))


def test_choosing_a_preset_rewindows_config_preview_and_thumbnails(qtbot, panel):
    open_ct_demo(qtbot, panel)
    assert panel.data_config().dicom_window == "soft_tissue"
    assert panel.preview.window_label.text() == "W 400 L 40" and panel.preview.window_form.isVisibleTo(panel)
    row = panel.thumbnail_view.currentIndex().row()
    soft = thumbnail_mean(qtbot, panel, row)

    choose_window(panel, "lung")
    lung = thumbnail_mean(qtbot, panel, row, before=soft)
    assert panel.data_config().dicom_window == "lung"
    assert panel.window_form.values().window_center == -600  # the fields show the preset's level and width
    qtbot.waitUntil(lambda: panel.preview.window_label.text() == "W 1500 L −600", timeout=10000)

    with qtbot.waitSignal(panel.window_applied, timeout=10000):
        choose_window(panel, "bone")
    bone = thumbnail_mean(qtbot, panel, row, before=lung)
    assert lung > bone + 40  # body and lungs bright in the lung window, only the spine in the bone window


def test_right_drag_on_the_preview_sets_a_custom_window_and_double_click_resets(qtbot, panel):
    open_ct_demo(qtbot, panel)
    view = panel.preview.view
    before = view.image().copy()
    centre = view.rect().center()
    QTest.mousePress(view, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, centre)
    QTest.mouseMove(view, centre + QPoint(150, 25))
    level, width = view.window()
    assert (level, width) == (80.0, 800.0)  # right: twice as wide; down: a higher level
    assert panel.preview.window_label.text() == "W 800 L 80"
    QTest.mouseMove(view, centre + QPoint(-150, -25))
    assert view.window() == (0.0, 200.0)
    with qtbot.waitSignal(panel.window_applied, timeout=10000):
        QTest.mouseRelease(view, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, centre + QPoint(-150, -25))
    assert view.renders >= 1 and view.image() != before  # re-windowed from the values in memory
    config = panel.data_config()
    assert (config.dicom_window, config.window_center, config.window_width) == ("manual", 0.0, 200.0)

    with qtbot.waitSignal(panel.window_applied, timeout=10000):
        QTest.mouseDClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)
    assert panel.data_config().dicom_window == "soft_tissue"
    qtbot.waitUntil(lambda: panel.preview.window_label.text() == "W 400 L 40", timeout=10000)


def test_png_images_take_no_window(qtbot, panel, tmp_path):
    with qtbot.waitSignal(panel.scanned, timeout=30000):
        panel.open_folder(str(write_class_folder(tmp_path / "photos")))
    qtbot.waitUntil(lambda: not panel.preview.loading() and not panel.preview.view.image().isNull(), timeout=10000)
    assert not panel.preview.window_form.isVisibleTo(panel)
    assert panel.preview.note.text() == NO_WINDOW_NOTE and panel.preview.note.isVisibleTo(panel)
    assert panel.preview.window_label.text() == "" and not panel.preview.view.draggable()


def test_ct_demo_from_the_file_menu_with_hu_hints_on_the_augmentation_step(qtbot, window):
    menu = next(action.menu() for action in window.menuBar().actions() if action.text() == "&File")
    demo = next(action.menu() for action in menu.actions() if action.text() == "&Demo data")
    ct = next(action for action in demo.actions() if action.text().startswith("CT series"))
    with qtbot.waitSignal(window.dataset_panel.scanned, timeout=30000):
        ct.trigger()
    config = window.current_config()
    assert config.data.root == str(demo_ct_dataset_dir()) and config.data.dicom_window == "soft_tissue"
    assert window.dataset_panel.scan_result.report.images[0].path.endswith(".dcm")
    hint = window.augment_panel.intensity_label
    qtbot.waitUntil(lambda: hint.isVisibleTo(window.augment_panel), timeout=20000)
    assert hint.text().startswith("At W 400 L 40: brightness ±0.4 ≈ ±160 HU at the window's top")
    # the window checks the training device on a worker thread; a test process that ends while it still
    # runs is aborted by Qt, so this test (often the last one run) lets it finish
    qtbot.waitUntil(lambda: "checking" not in window.device_label.text(), timeout=60000)


def test_the_app_opens_the_folder_given_on_the_command_line(qtbot, monkeypatch, tmp_path):
    """`main.py gui --data DIR` opens DIR (it used to open the demo dataset whatever DIR was)."""
    from workbench.gui.app import open_window
    from workbench.gui.workers import finish_running_jobs

    use_private_settings(monkeypatch, tmp_path)
    folder = tmp_path / "scans"
    write_class_folder(folder)
    window = open_window(str(folder))
    qtbot.addWidget(window)
    assert window.dataset_panel.folder_edit.text() == str(folder)
    qtbot.waitUntil(lambda: "No folder scanned" not in window.dataset_panel.summary_label.text(), timeout=30_000)
    assert window.current_config().data.root == str(folder)
    window.train_panel.stop_and_wait()
    finish_running_jobs()


# -- the window's size: a 1366 x 768 laptop, and a 1920 x 1080 monitor ---------------------------------------
def settle(qtbot, window, width: int, height: int) -> None:
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.size() == QSize(width, height), timeout=5000)
    QApplication.processEvents()


def clipped_labels(page: QWidget) -> list[str]:
    """The shown labels of `page` given less room than their text needs (a wrapped one: at its width)."""
    clipped = []
    for label in page.findChildren(QLabel):
        if not label.isVisibleTo(page) or not label.text():
            continue
        needed = label.minimumSizeHint()
        if label.wordWrap():
            needed.setHeight(label.heightForWidth(label.width()))
        if label.width() < needed.width() or label.height() < needed.height():
            clipped.append(f"{label.text()[:40]!r}: {label.size().toTuple()} < {needed.toTuple()}")
    return clipped


@pytest.fixture
def styled(qapp):
    """The app's own style sheet, as `main` applies it: sizes are measured as users see them."""
    from workbench.gui.style import apply_style

    apply_style(qapp)


def test_the_window_fits_a_laptop_screen(qtbot, styled, window):
    for size in (window.minimumSizeHint(), window.minimumSize()):
        assert size.width() <= 1280 and size.height() <= 700


def test_every_page_fits_at_1280_by_720_unclipped(qtbot, styled, window):
    settle(qtbot, window, 1280, 720)
    viewport = window.page_scroll.viewport()
    for title, page in zip(STEPS, window.panels):
        window.show_step(title)
        QApplication.processEvents()
        assert window.stack.size() == viewport.size(), title  # no page scrolls at this size
        assert (window.stack.size() - page.minimumSizeHint()).isValid(), title  # and none is squeezed
        assert clipped_labels(page) == [], title


def test_a_small_window_scrolls_to_all_of_the_page(qtbot, styled, window):
    settle(qtbot, window, 800, 540)
    window.show_step("Augmentations")
    QApplication.processEvents()
    page, scroll = window.augment_panel, window.page_scroll
    assert window.stack.height() >= page.minimumSizeHint().height() > scroll.viewport().height()
    assert scroll.verticalScrollBar().maximum() == window.stack.height() - scroll.viewport().height()
    window.show_step("Export")  # a short page does not scroll because a taller one is behind it
    QApplication.processEvents()
    assert scroll.verticalScrollBar().maximum() == 0


def test_the_augmentation_preview_grows_with_the_screen(qtbot, window):
    window.show_step("Augmentations")
    sides = []
    for width, height in ((1280, 720), (1920, 1080)):
        settle(qtbot, window, width, height)
        sides.append(window.augment_panel.tiles[0][0].square().width())
    assert TILE <= sides[0] < sides[1] - 40


def test_an_image_tile_draws_its_image_square_and_centred(qtbot):
    tile = ImageTile(40)
    qtbot.addWidget(tile)
    tile.resize(120, 80)
    image = QImage(10, 20, QImage.Format.Format_RGB32)
    image.fill(QColor("red"))
    tile.set_pixmap(QPixmap.fromImage(image))
    assert tile.square() == QRect(20, 0, 80, 80)
    drawn = tile.grab().toImage()
    red = [(x, y) for x in range(120) for y in range(80) if drawn.pixelColor(x, y) == QColor("red")]
    assert min(red) == (41, 2) and max(red) == (78, 77)  # 38 x 76 px: the image's shape, inside the frame
