"""What every page of a desk journey must pass: status < 400, Chinese only, no Python repr."""

from __future__ import annotations

import re

ALLOWED_WORDS = {"popbase", "PDF", "XLSX", "CSV", "ID"}
WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
REPR = re.compile(r"\b(None|True|False)\b|#\d+")


def page_ok(page, response=None) -> None:
    """The page now shown: no error status, no English word, no None/True/#123 in its text."""
    if response is not None:
        assert response.status < 400, f"{page.url}: HTTP {response.status}"
    # What a person sees: screen-reader-only labels (Django's untranslated 'Model name' ...) aside.
    text = page.evaluate(
        """() => { const b = document.body.cloneNode(true);
        b.querySelectorAll('.visually-hidden, script, style').forEach(e => e.remove());
        document.documentElement.appendChild(b); b.style.display = 'block';
        const t = b.innerText; b.remove(); return t; }"""
    )
    title = page.title()
    words = {w for w in WORD.findall(text + " " + title) if w not in ALLOWED_WORDS}
    assert not words, f"{page.url}: English on the page: {sorted(words)}"
    found = REPR.findall(text + " " + title)
    assert not found, f"{page.url}: internals on the page: {found}"


def follow(page, action) -> None:
    """Run a click (or submit) that navigates, and check the page it lands on."""
    with page.expect_navigation() as nav:
        action()
    page_ok(page, nav.value)
