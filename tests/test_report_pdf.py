"""The report as a PDF: finding a converter, running it, a clear message when there is none (CLI and GUI),
and Qt's own printing with the SVG charts drawn as images.

The converter programs here are small stand-in scripts on PATH: what is tested is how we find, call and
read them (the real ones are not installed on the test machines)."""
import importlib.util
import re
import stat

import pytest

pytest.importorskip("pytestqt")

from engine_helpers import tiny_config, tiny_dataset  # noqa: E402
from workbench.cli.main import main  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.panels.evaluate import EvaluatePanel  # noqa: E402
from workbench.gui.report_pdf import print_report_with_qt, report_document  # noqa: E402
from workbench.probes.report import build_report, convert_to_pdf, find_pdf_converter  # noqa: E402

no_weasyprint = pytest.mark.skipif(importlib.util.find_spec("weasyprint") is not None,
                                   reason="WeasyPrint is installed here: it is always found first")
PAGE = re.compile(rb"/Type\s*/Page\b(?!s)")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    data = tiny_dataset(tmp_path_factory.mktemp("pdf-data"), per_class=3)
    trainer = Trainer(tiny_config(data, tmp_path_factory.mktemp("pdf-runs"), train={"steps": 4}))
    trainer.run()
    return trainer.run_dir


@pytest.fixture
def bin_dir(tmp_path, monkeypatch):
    """An otherwise empty PATH, to put stand-in converters on."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def stand_in(folder, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@no_weasyprint
def test_without_a_converter_the_cli_keeps_the_html_and_says_what_to_install(run_dir, bin_dir, capsys):
    assert find_pdf_converter() is None
    assert main(["report", str(run_dir), "--pdf"]) == 1
    err = capsys.readouterr().err
    assert "No PDF: no converter found" in err and all(name in err for name in ("WeasyPrint", "wkhtmltopdf",
                                                                                "Chromium"))
    assert (run_dir / "report.html").is_file() and not (run_dir / "report.pdf").exists()
    assert main(["report", str(run_dir)]) == 0  # without --pdf nothing is asked for


@no_weasyprint
def test_converters_are_found_in_order_called_and_their_failures_explained(run_dir, bin_dir):
    html = build_report(run_dir)
    stand_in(bin_dir, "chromium", 'for a in "$@"; do case "$a" in --print-to-pdf=*) '
                                  'printf "%%PDF-1.4 chromium" > "${a#--print-to-pdf=}";; esac; done\n')
    converter = find_pdf_converter()
    assert converter.name == "chromium"
    pdf = convert_to_pdf(html, converter)
    assert pdf == html.with_suffix(".pdf") and pdf.read_bytes() == b"%PDF-1.4 chromium"
    assert stat.S_IMODE(pdf.stat().st_mode) == stat.S_IMODE(html.stat().st_mode)  # as private as the HTML

    stand_in(bin_dir, "wkhtmltopdf", 'echo "Exit with code 1 due to network error: HostNotFoundError" >&2\n'
                                     'exit 1\n')
    assert find_pdf_converter().name == "wkhtmltopdf"  # before Chromium
    with pytest.raises(RuntimeError, match="wkhtmltopdf could not print the report: Exit with code 1 due to"):
        convert_to_pdf(html)
    assert not pdf.exists()  # the old PDF does not pass for a new one


def test_qt_prints_the_report_with_its_charts_as_images(qtbot, run_dir, tmp_path):
    html = build_report(run_dir)
    charts = html.read_text(encoding="utf-8").count("<svg")
    assert charts >= 3
    document = report_document(html.read_text(encoding="utf-8"))
    assert "<svg" not in document.toHtml() and document.toHtml().count("<img src=\"chart-") == charts
    assert "Training curves" in document.toPlainText() and "Loss" not in document.toPlainText()  # no SVG text
    pdf = print_report_with_qt(html, tmp_path / "plain.pdf")
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF") and len(PAGE.findall(content)) >= 2


@no_weasyprint
def test_save_pdf_in_the_gui_falls_back_to_qt_and_says_what_to_install(qtbot, run_dir, bin_dir):
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.set_run(run_dir)
    assert panel.pdf_button.isEnabled() and not panel.pdf_button.icon().isNull()
    with qtbot.waitSignal(panel.pdf_saved, timeout=60_000) as saved:
        panel.pdf_button.click()
    qtbot.waitUntil(panel.pdf_button.isEnabled)  # the job has ended
    assert saved.args[0] == str(run_dir / "report.pdf") and (run_dir / "report.pdf").read_bytes()[:4] == b"%PDF"
    message = panel.banner.text()
    assert "plain layout" in message and "WeasyPrint" in message and "wkhtmltopdf" in message

    stand_in(bin_dir, "wkhtmltopdf", "echo 'QXcbConnection: Could not connect to display' >&2\nexit 1\n")
    with qtbot.waitSignal(panel.pdf_saved, timeout=60_000):
        panel.pdf_button.click()
    qtbot.waitUntil(panel.pdf_button.isEnabled)  # the job has ended
    assert panel.banner.level() == "warning" and (run_dir / "report.pdf").read_bytes()[:4] == b"%PDF"
    assert "wkhtmltopdf could not print the report: QXcbConnection" in panel.banner.text()
    assert "printed by Qt instead" in panel.banner.text()
    panel.shutdown()
