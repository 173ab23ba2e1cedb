"""Large images are drawn whole at their true aspect ratio: the Dataset step's preview, the Augmentations step's
tiles and the Dataset grid's thumbnails, read back from the pixels Qt paints (a 40 x 24 PNG with a coloured
1-px line on each edge)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtGui import QImage, QPixmap  # noqa: E402

from gui_helpers import use_private_settings  # noqa: E402
from workbench.gui.panels.dataset import DatasetPanel  # noqa: E402
from workbench.gui.widgets import ImageTile  # noqa: E402
from workbench.gui.window_drag import EDGE_COLOUR, WindowedImageView  # noqa: E402

WIDTH, HEIGHT = 40, 24
INSIDE = (128, 128, 128)
EDGES = {"top": (255, 0, 0), "bottom": (0, 255, 0), "left": (0, 0, 255), "right": (255, 255, 0)}


def bordered_pixels() -> np.ndarray:
    """A grey 40 x 24 RGB image with a 1-px line of its own colour on each edge (the sides over the corners)."""
    pixels = np.full((HEIGHT, WIDTH, 3), INSIDE, dtype=np.uint8)
    pixels[0, :], pixels[-1, :] = EDGES["top"], EDGES["bottom"]
    pixels[:, 0], pixels[:, -1] = EDGES["left"], EDGES["right"]
    return pixels


def grabbed(widget, name: str) -> np.ndarray:
    """The widget as painted, as an RGB array (also saved to /tmp/preview-`name`.png to look at)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    image.save(f"/tmp/preview-{name}.png")
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)


def near(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return np.abs(pixels - np.array(colour)).max(axis=2) <= tolerance


def drawn_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the drawn image, told by its four edge lines, each of which must be there
    and run along its whole side (nothing clipped)."""
    coloured = np.zeros(pixels.shape[:2], dtype=bool)
    for colour in EDGES.values():
        coloured |= near(pixels, colour)
    rows, columns = np.nonzero(coloured)
    assert rows.size, "the image is not drawn"
    left, top, right, bottom = columns.min(), rows.min(), columns.max(), rows.max()
    width, height = right - left + 1, bottom - top + 1
    lines = {"top": pixels[top, left:right + 1], "bottom": pixels[bottom, left:right + 1],
             "left": pixels[top:bottom + 1, left], "right": pixels[top:bottom + 1, right]}
    for side, line in lines.items():
        share = near(line[None], EDGES[side]).mean()
        assert share > 0.8, f"the {side} edge line is cut or missing ({share:.0%} of it drawn)"
    return left, top, width, height


def assert_true_aspect(width: int, height: int) -> None:
    assert abs(height - width * HEIGHT / WIDTH) <= 1, f"drawn {width} x {height}: not {WIDTH}:{HEIGHT}"


@pytest.fixture
def panel(qtbot, monkeypatch, tmp_path):
    use_private_settings(monkeypatch, tmp_path)
    folder = tmp_path / "images" / "wide"
    folder.mkdir(parents=True)
    Image.fromarray(bordered_pixels()).save(folder / "wide.png")
    widget = DatasetPanel()
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    with qtbot.waitSignal(widget.scanned, timeout=30000):
        widget.open_folder(str(folder.parent))
    qtbot.waitUntil(lambda: not widget.scanning() and not widget.preview.loading()
                    and not widget.preview.view.image().isNull(), timeout=10000)
    yield widget
    widget.shutdown()


@pytest.mark.parametrize("size", [(1500, 560), (900, 900)], ids=["wide", "tall"])
def test_dataset_preview_draws_the_whole_image_uniformly_scaled_and_centred(qtbot, panel, size):
    panel.resize(*size)
    view = panel.preview.view
    qtbot.waitUntil(lambda: view.width() > 0 and view.height() > 0)
    pixels = grabbed(view, f"dataset-{size[0]}x{size[1]}")
    left, top, width, height = drawn_box(pixels)

    assert_true_aspect(width, height)
    right_gap, bottom_gap = view.width() - left - width, view.height() - top - height
    assert abs(left - right_gap) <= 1 and abs(top - bottom_gap) <= 1, "not centred"
    assert min(left, right_gap) <= 2 or min(top, bottom_gap) <= 2, "smaller than the room allows"
    assert (left > 0 and top > 0 and right_gap > 0 and bottom_gap > 0), "no room left for the edge line"
    assert tuple(pixels[top + height // 2, left - 1]) == EDGE_COLOUR.getRgb()[:3], "the file's edge is not drawn"
    assert tuple(pixels[0, 0]) == (0, 0, 0), "the letterbox is not the view's black"
    # enlarged far more than 2x, nearest-neighbour: every drawn pixel is one of the file's own colours
    inside = pixels[top:top + height, left:left + width].reshape(-1, 3)
    known = np.zeros(len(inside), dtype=bool)
    for colour in (INSIDE, *EDGES.values()):
        known |= near(inside[None], colour, tolerance=0)[0]
    assert known.all(), f"{(~known).sum()} in-between colours: the image was smoothed"


@pytest.mark.parametrize("size", [(600, 200), (200, 500)], ids=["wide", "tall"])
def test_image_tile_keeps_the_aspect_ratio(qtbot, size):
    """The Augmentations step's tiles (`ImageTile`) draw the whole image at its ratio in their square frame."""
    tile = ImageTile(84)
    qtbot.addWidget(tile)
    pixels = bordered_pixels()
    tile.set_pixmap(QPixmap.fromImage(QImage(pixels.data, WIDTH, HEIGHT, WIDTH * 3, QImage.Format.Format_RGB888)))
    tile.resize(*size)
    tile.show()
    qtbot.waitExposed(tile)
    _left, _top, width, height = drawn_box(grabbed(tile, f"tile-{size[0]}x{size[1]}"))
    assert_true_aspect(width, height)
    assert width >= min(size) - 6  # fills its square frame's width, inside the 2-px margin


def test_thumbnail_keeps_the_aspect_ratio(qtbot, panel):
    qtbot.waitUntil(lambda: panel.thumbnails.loaded_count() >= 1, timeout=10000)
    grid = panel.thumbnail_view
    grid.clearSelection()  # the selection's tint would colour the edges
    grid.setCurrentIndex(grid.model().index(-1, 0))
    pixels = grabbed(grid.viewport(), "thumbnail")
    _left, _top, width, height = drawn_box(pixels)
    assert_true_aspect(width, height)
    assert width >= 90  # the 96-px thumbnail, not a shrunken one


def test_a_large_image_shrunk_into_the_preview_is_smoothed_not_aliased(qtbot):
    """Below 2x (here shrunk), nearest-neighbour would drop whole rows: a 1-px checkerboard is averaged instead."""
    view = WindowedImageView()
    qtbot.addWidget(view)
    view.resize(202, 202)
    view.show()
    checkerboard = (np.indices((240, 400)).sum(axis=0) % 2).astype(np.float32)
    view.show_image(checkerboard)
    pixels = grabbed(view, "shrunk")
    target = view.image_rect()
    assert (target.width(), target.height()) == (200, 120)
    inside = pixels[target.top() + 2:target.bottom() - 1, target.left() + 2:target.right() - 1, 0]
    assert np.all((inside > 60) & (inside < 195)), "shrunk nearest-neighbour: black and white pixels, not grey"
