"""The import contracts of pyproject.toml ([tool.importlinter]): only the app imports Qt, each package imports
only the layers below it, and the data package has no import cycles."""
import subprocess
import sys
from pathlib import Path

from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"


def test_the_import_contracts_are_kept():
    result = subprocess.run([sys.executable, "-c", LINT_IMPORTS], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_package_but_the_app_is_kept_from_qt():
    """The layers contract is exhaustive (a new package must be placed), so the Qt contract follows it."""
    contracts = {contract["type"]: contract
                 for contract in read_configuration(str(ROOT / "pyproject.toml"))["contracts_options"]}
    layered = {f"workbench.{name.strip()}" for layer in contracts["layers"]["layers"] for name in layer.split("|")}
    assert set(contracts["forbidden"]["source_modules"]) == layered - {"workbench.gui"}
