"""The run report printed to PDF by Qt itself (QTextDocument to QPdfWriter), when no converter is installed.

QTextDocument reads only a subset of HTML and CSS: no inline SVG, flex, grid, CSS variables or shadows. The
report's SVG charts are therefore drawn to images first (QSvgRenderer); the rest prints as plain headings,
text and tables, without the report's colours and cards. Safe to call off the GUI thread (no QPixmap).
"""
from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QMarginsF, QUrl
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument
from PySide6.QtSvg import QSvgRenderer

SVG_ELEMENT = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
CHART_SCALE = 2
"""Charts are drawn at twice their size, so they stay sharp in the PDF."""
CHART_MAX_WIDTH = 640
PAGE_MARGIN_MM = 15
PLAIN_STYLE = ("h1 { font-size: 20pt; } h2 { font-size: 14pt; margin-top: 18px; } h3 { font-size: 11pt; } "
               "th { text-align: left; } td, th { padding: 2px 10px 2px 0; }")


def report_document(html: str) -> QTextDocument:
    """A QTextDocument of the report, its inline SVG charts replaced by images drawn from them."""
    document = QTextDocument()
    document.setDefaultStyleSheet(PLAIN_STYLE)
    charts: list[str] = []

    def chart_image(match: re.Match) -> str:
        renderer = QSvgRenderer(QByteArray(match.group(0).encode("utf-8")))
        size = renderer.defaultSize()
        if not renderer.isValid() or size.isEmpty():
            return ""
        image = QImage(size * CHART_SCALE, QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        name = f"chart-{len(charts)}.png"
        charts.append(name)
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        width = min(size.width(), CHART_MAX_WIDTH)
        return f"<p><img src='{name}' width='{width}' height='{round(size.height() * width / size.width())}'></p>"

    document.setHtml(SVG_ELEMENT.sub(chart_image, html))
    return document


def print_report_with_qt(html_path: str | Path, pdf_path: str | Path | None = None) -> Path:
    """Print the HTML report to an A4 PDF (default: beside it, `.pdf`); returns the PDF's path."""
    html_path = Path(html_path)
    pdf_path = Path(pdf_path) if pdf_path else html_path.with_suffix(".pdf")
    document = report_document(html_path.read_text(encoding="utf-8"))
    writer = QPdfWriter(str(pdf_path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(*[PAGE_MARGIN_MM] * 4), QPageLayout.Unit.Millimeter)
    writer.setTitle(document.metaInformation(QTextDocument.MetaInformation.DocumentTitle))
    writer.setCreator("Pretext Workbench")
    document.print_(writer)
    del writer  # the file is complete once the writer is gone
    if not pdf_path.is_file():
        raise RuntimeError(f"Qt could not write {pdf_path.name}")
    pdf_path.chmod(html_path.stat().st_mode & 0o777)  # as private as the report itself
    return pdf_path
