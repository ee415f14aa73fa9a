"""PDF copies of the HTML reports, drawn by Qt's text engine (no browser needed, no display needed).

:func:`write_pdf` lays an HTML page out on A4 with ``QTextDocument`` and
prints it through ``QPdfWriter`` into memory, then saves it atomically (and
only over a file that is a PDF or nothing).  Pictures (inline PNG data URIs)
and tables are fitted to the page's width.  Qt's HTML subset: tables, colours, headings
and pictures come through; CSS layout beyond that does not (the HTML file
stays the full-fidelity copy).  Without a display Qt runs on its offscreen
platform.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PAGE_WIDTH_PX = 600      # a little under the text width on A4 at 96 dpi with the margins below


def _fit_page(html: str) -> str:
    """Every picture the page's width (height follows, the aspect kept), every table the page's width."""
    html = re.sub(r"<img(?![^>]*\bwidth=)", f'<img width="{PAGE_WIDTH_PX}"', html)
    return re.sub(r"<table(?![^>]*\bwidth=)", '<table width="100%"', html)


def write_pdf(html: str, path) -> Path:
    """``html`` as a PDF at ``path`` (atomic; refused over a file that is not a PDF)."""
    from twin import atomic

    path = Path(path)
    atomic.check_target(path, "pdf")
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QBuffer, QIODevice, QMarginsF, QSizeF
    from PyQt6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument
    from PyQt6.QtWidgets import QApplication

    # Qt lays text out only with an application object; a widgets one, so that a window opened later in
    # the same process (the tests, the window's own report) finds the kind it needs
    app = QApplication.instance() or QApplication([])  # noqa: F841
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setResolution(96)
    writer.setTitle(re.search(r"<title>(.*?)</title>", html, re.S).group(1) if "<title>" in html else "report")
    doc = QTextDocument()
    # lay the text out on the printer's page itself, so 100 % is the page's text width
    doc.setPageSize(QSizeF(writer.width(), writer.height()))
    doc.setHtml(_fit_page(html))
    doc.print(writer)
    del writer  # ends the PDF
    buf.close()
    return atomic.write(path, bytes(buf.data()))
