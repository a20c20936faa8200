"""Name normalisation for duplicate detection, as character maps for SQL ``translate()``.

Detectors compare names inside PostgreSQL, over the whole population at once, so the
normalisation is a pair of one-character-to-one-character maps applied by ``translate()``:

* ``normalised``: full-width and compatibility forms folded (NFKC), traditional characters to
  simplified (OpenCC ``t2s`` tables, via opencc-python-reimplemented), the separator dots of
  minority names (· • ・ ．) unified and spaces removed;
* ``homophone``: each Han character of the normalised name to one private-use character per
  toneless pinyin syllable (pypinyin's most common reading), so 张伟 and 章威 share a key.

The maps cover only the characters that occur in names (a few thousand), read from the
database by the caller.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from opencc import OpenCC

DOTS = "·•・．‧∙⋅"
CANONICAL_DOT = "·"
PRIVATE_USE_START = 0xE000


@functools.cache
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def normalise_char(char: str) -> str:
    """One character of a name, folded: '' when it is to be removed."""
    if char.isspace():
        return ""
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) != 1:
        folded = char
    if folded.isspace():
        return ""
    if folded in DOTS:
        return CANONICAL_DOT
    simplified = _t2s().convert(folded)
    return simplified if len(simplified) == 1 else folded


def normalise_name(name: str) -> str:
    """A name as the ``normalised`` key sees it (the Python twin of the SQL map)."""
    return "".join(normalise_char(c) for c in name)


@functools.cache
def _pinyin():
    """pypinyin's reader, imported at first use: its phrase tables take about 55 MiB that a
    process which never reads a name aloud (a command, a feed worker) need not carry."""
    from pypinyin import Style, lazy_pinyin

    return functools.partial(lazy_pinyin, style=Style.NORMAL, errors="ignore")


def syllable(char: str) -> str | None:
    """The toneless pinyin of a Han character, or None for anything else."""
    if not ("\u3400" <= char <= "\u9fff" or "\U00020000" <= char <= "\U0003134f"):
        return None
    reading = _pinyin()(char)
    return reading[0] if reading else None


def homophone_key(name: str) -> str:
    """The toneless pinyin of a normalised name, space-separated, other characters kept."""
    return " ".join(syllable(c) or c for c in normalise_name(name))


@dataclass(frozen=True)
class NameMaps:
    """``translate(translate(name, norm_from, norm_to), sound_from, sound_to)`` in SQL."""

    norm_from: str
    norm_to: str
    sound_from: str
    sound_to: str
    syllables: tuple[str, ...]

    def sound_key_to_pinyin(self, key: str) -> str:
        """Turn a SQL homophone key back into readable pinyin (for evidence and fingerprints)."""
        out = []
        for c in key:
            index = ord(c) - PRIVATE_USE_START
            out.append(self.syllables[index] if 0 <= index < len(self.syllables) else c)
        return " ".join(out)


def build_name_maps(chars: Iterable[str]) -> NameMaps:
    """The SQL maps for the characters that occur in names."""
    chars = sorted(set(chars))
    changed, removed = [], []
    normalised: set[str] = set()
    for c in chars:
        n = normalise_char(c)
        if n == "":
            removed.append(c)
        elif n != c:
            changed.append((c, n))
        if n:
            normalised.add(n)
    # translate() removes the characters of ``from`` beyond the length of ``to``.
    norm_from = "".join(c for c, _ in changed) + "".join(removed)
    norm_to = "".join(n for _, n in changed)
    readings = {c: syllable(c) for c in sorted(normalised)}
    syllables = tuple(sorted({s for s in readings.values() if s}))
    code = {s: chr(PRIVATE_USE_START + i) for i, s in enumerate(syllables)}
    pairs = [(c, code[s]) for c, s in readings.items() if s]
    return NameMaps(
        norm_from=norm_from,
        norm_to=norm_to,
        sound_from="".join(c for c, _ in pairs),
        sound_to="".join(p for _, p in pairs),
        syllables=syllables,
    )
