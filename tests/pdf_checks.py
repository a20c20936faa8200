"""Checks on the PDF copies of the printed documents, read back with poppler-utils."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout  # noqa: S603


def pdf_fonts_and_text(data: bytes) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "print.pdf"
        path.write_bytes(data)
        return _run("/usr/bin/pdffonts", str(path)), _run("/usr/bin/pdftotext", str(path), "-")


def assert_print_pdf(response, *, filename: str, shown: list[str], hidden: list[str] = ()) -> str:
    """The response is a PDF download named ``filename`` in Chinese, with a CJK font embedded
    and ``shown`` in its text (``hidden`` absent). Returns the text."""
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f"attachment; filename*=utf-8''{quote(filename)}"
    data = response.content
    assert data.startswith(b"%PDF-")
    fonts, text = pdf_fonts_and_text(data)
    embedded = [
        line
        for line in fonts.splitlines()[2:]
        if line.split()[-5] == "yes"  # columns: ... emb sub uni object ID
    ]
    assert any(cjk in line for line in embedded for cjk in ("WenQuanYi", "CJK", "Han")), fonts
    # Letter-spaced headings come out as "户 口 簿": compare without white space.
    compact = "".join(text.split())
    for value in shown:
        assert "".join(value.split()) in compact, value
    for value in hidden:
        assert "".join(value.split()) not in compact, value
    assert "下载PDF" not in compact  # the toolbar is print-hidden
    return text
