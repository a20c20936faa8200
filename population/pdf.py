"""PDF copies of the printed documents (户口簿, 常住人口登记表, 户口迁移证, 准予迁入证明, 居住证).

The view that renders a print page renders its PDF when asked with ``?format=pdf`` (the page's
"下载 PDF" button), so the area rule, the masking by role and the access log are exactly the
page's: the log row is written by the view, on the page's channel with a ``.pdf`` suffix.

WeasyPrint (already used for the statistics PDFs, see ``population/statistics/reports.py``) lays out
the page with its print CSS (``@media print`` hides the toolbar and sets A4 margins) and embeds the
CJK font of :data:`CJK_FONTS` (Debian ``fonts-wqy-microhei`` or ``fonts-noto-cjk``, installed by
``make report-deps``; the statistics charts use the same list). Nothing is
fetched over the network while rendering: the print pages carry their own styles.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import content_disposition_header

PDF_FORMAT = "pdf"

# The CJK faces popbase draws Chinese with, in order of preference (the statistics charts too).
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC")

# The print pages ask for a Song (serif) face first; whichever CJK face is installed follows, so
# Chinese text is never drawn as boxes.
_FONTS = ", ".join(f'"{name}"' for name in ("Noto Serif CJK SC", *CJK_FONTS))
_PDF_CSS = (
    f"body {{ font-family: {_FONTS}, sans-serif !important; }}"
    # The admin's skip link is hidden by the admin stylesheet, which a PDF does not load.
    ".skip-to-content-link { display: none !important; }"
)


def wants_pdf(request) -> bool:
    """True when the print page was asked for as a PDF (``?format=pdf``)."""
    return request.GET.get("format") == PDF_FORMAT


def print_channel(request, channel: str) -> str:
    """The access-log channel of a print: the page's own, marked ``.pdf`` for a PDF copy."""
    return f"{channel}.pdf" if wants_pdf(request) else channel


def _no_fetch(url: str, *args, **kwargs) -> dict:
    # Stylesheets and images linked by the admin chrome are not needed on paper (the print CSS
    # hides that chrome); refusing them keeps rendering local and quick.
    return {"string": b"", "mime_type": "text/css"}


def render_pdf(html: str) -> bytes:
    from weasyprint import CSS, HTML

    return HTML(string=html, url_fetcher=_no_fetch).write_pdf(stylesheets=[CSS(string=_PDF_CSS)])


def printable(request, response: TemplateResponse, filename: str) -> HttpResponse:
    """The print page as rendered, or as a PDF download named ``filename`` (Chinese allowed:
    sent as ``filename*=utf-8''...``) when the request asked for one."""
    if not wants_pdf(request):
        return response
    response.render()
    pdf = HttpResponse(render_pdf(response.content.decode()), content_type="application/pdf")
    pdf["Content-Disposition"] = content_disposition_header(True, filename)
    pdf["Cache-Control"] = "no-store"  # personal data: not kept by proxies or the browser cache
    return pdf
