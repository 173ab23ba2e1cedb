"""The commands that open Qt: the desktop app and its two benchmarks. This is the command line's one way
into `workbench.gui` (the import contract names it), so every other command runs where PySide6 is not
installed (`pip install .` on a cluster node)."""
from __future__ import annotations

import functools
import importlib.util
import sys

QT_MISSING = "the desktop app needs PySide6: pip install 'pretext-workbench[gui]'"
QT_PACKAGES = ("PySide6", "pyqtgraph")


def qt_installed() -> bool:
    """Whether PySide6 and pyqtgraph can be found (looked up, not imported)."""
    for name in QT_PACKAGES:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):  # a blocked or half-installed package
            return False
    return True


def _needs_qt(command):
    """Run `command` only where Qt is installed; elsewhere say in one line how to install it (status 1)."""
    @functools.wraps(command)
    def guarded(*args, **kwargs) -> int:
        if not qt_installed():
            print(QT_MISSING, file=sys.stderr)
            return 1
        return command(*args, **kwargs)

    return guarded


@_needs_qt
def open_app(data: str | None) -> int:
    """`main.py` (or `main.py gui`): the desktop app."""
    from workbench.gui.app import main

    return main(["--data", data] if data else [])


@_needs_qt
def bench_gui(steps: int, rounds: int) -> int:
    """`main.py bench --gui`: the window's overhead on training and its longest stall."""
    from workbench.gui.bench import print_gui_benchmark

    return print_gui_benchmark(steps, rounds)


@_needs_qt
def bench_startup(launches: int) -> int:
    """`main.py bench --startup`: launch to painted window, Start to first plotted loss point."""
    from workbench.gui.startup_bench import print_startup_figures

    return print_startup_figures(launches)
