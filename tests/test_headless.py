"""The engine without Qt, as `pip install .` leaves a cluster node: with PySide6 and pyqtgraph unimportable,
the engine imports and the command line runs, and the app says in one line how to install it."""
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli.desktop import QT_MISSING

ROOT = Path(__file__).resolve().parents[1]
NO_QT = '''
import sys


class NoQt:
    """Makes PySide6 and pyqtgraph unimportable, as where they were never installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("PySide6", "shiboken6", "pyqtgraph"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoQt())
try:
    import PySide6
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("PySide6 was not blocked")
'''
ENGINE = ("workbench.engine.trainer", "workbench.probes.probe", "workbench.export", "workbench.bench.gpu_check",
          "workbench.cli.main")


def run_without_qt(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_QT + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def main_py_without_qt(*args: str) -> subprocess.CompletedProcess:
    return run_without_qt(f"import runpy\nsys.argv = ['main.py', *{list(args)!r}]\n"
                          "runpy.run_path('main.py', run_name='__main__')\n")


def test_the_engine_imports_without_qt():
    result = run_without_qt(f"import importlib\nfor name in {ENGINE!r}:\n    importlib.import_module(name)\n"
                            "print(sorted({name.split('.')[0] for name in sys.modules} & {'PySide6', 'pyqtgraph'}))\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_command_line_runs_without_qt():
    tasks = main_py_without_qt("tasks")
    assert tasks.returncode == 0, tasks.stderr
    assert "simclr" in tasks.stdout.split()
    train_help = main_py_without_qt("train", "--help")
    assert train_help.returncode == 0, train_help.stderr
    assert "--resume" in train_help.stdout


@pytest.mark.parametrize("args", [(), ("bench", "--gui"), ("bench", "--startup")])
def test_the_app_without_qt_says_how_to_install_it(args):
    result = main_py_without_qt(*args)
    assert result.returncode == 1
    assert QT_MISSING in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
