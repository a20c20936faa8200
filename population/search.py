"""Finding a person by what an officer knows: the citizen ID as typed, name plus birth date,
pinyin, or traditional characters.

One function, ``person_search``, serves the person list and Django's admin autocomplete (every
``autocomplete_fields`` pointing at ``Person``), always over a queryset already scoped to the
user's area:

- a citizen ID as typed (spaces, full-width digits, a lower-case ``x``, a 15-digit number) is
  normalised by ``parse_citizen_id`` and matched exactly, former numbers included; in the
  autocomplete a partial number of 6 digits or more matches as a prefix (a range on the unique
  index);
- ``张三 1990-01-01`` (or ``19900101``, ``1990年1月1日``): name prefix and exact birth date;
- ``zhangsan``, ``zhang san``, ``zhang s``: toneless pinyin, each syllable matching any character
  with that reading (heteronyms included; the last syllable may be unfinished), as one regular
  expression over the scoped rows;
- a name (prefix), typed in simplified or traditional characters.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata

from django.db.models import Q, QuerySet
from opencc import OpenCC

from population.identity import InvalidCitizenId, normalize_citizen_id_text, parse_citizen_id
from population.models import CitizenIdCorrection

_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
_TONES = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")


class SearchError(ValueError):
    """The term looked like a citizen ID but is not one; the message says why (Chinese)."""


def looks_like_id(term: str) -> bool:
    first = unicodedata.normalize("NFKC", term).strip()[:1]
    return first.isdigit()


@functools.cache
def _chars_by_syllable() -> dict[str, str]:
    """Toneless syllable -> every character with that reading (pypinyin's table).

    pypinyin is imported here, at the first pinyin search: its phrase tables take about 55 MiB
    that a process which never searches (a worker, a command) need not carry.
    """
    from pypinyin import pinyin_dict

    table: dict[str, set[str]] = {}
    for code, readings in pinyin_dict.pinyin_dict.items():
        for reading in readings.split(","):
            table.setdefault(reading.translate(_TONES), set()).add(chr(code))
    return {s: "".join(sorted(c)) for s, c in table.items()}


def _segment(letters: str) -> list[str] | None:
    """Split run-together pinyin into syllables (longest first); the last may be unfinished."""
    syllables = _chars_by_syllable()
    if not letters:
        return []
    for end in range(min(6, len(letters)), 0, -1):
        head = letters[:end]
        if head in syllables:
            rest = _segment(letters[end:])
            if rest is not None:
                return [head, *rest]
    if any(s.startswith(letters) for s in syllables):
        return [letters]  # an unfinished last syllable
    return None


def pinyin_pattern(term: str) -> str | None:
    """A regular expression for names read as ``term`` (toneless pinyin), or None."""
    words = re.findall(r"[a-zü]+", term.lower().replace("ü", "v"))
    if not words:
        return None
    segments: list[str] = []
    for word in words:
        part = _segment(word)
        if part is None:
            return None
        segments += part
    syllables = _chars_by_syllable()
    classes = []
    for i, syllable in enumerate(segments):
        chars = syllables.get(syllable, "")
        if i == len(segments) - 1:  # the last may be unfinished: every syllable it starts
            chars = "".join(
                sorted({c for s, cs in syllables.items() if s.startswith(syllable) for c in cs})
            )
        if not chars:
            return None
        classes.append(f"[{re.escape(chars)}]")
    return "^" + "".join(classes)


def _date(text: str) -> dt.date | None:
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a date, no time)
        except ValueError:
            continue
    return None


@functools.cache
def _converters() -> tuple[OpenCC, OpenCC]:
    return OpenCC("t2s"), OpenCC("s2t")


def _name_q(name: str) -> Q:
    t2s, s2t = _converters()
    q = Q()
    for variant in {name, t2s.convert(name), s2t.convert(name)}:
        q |= Q(name__startswith=variant)
    return q


def person_search(queryset: QuerySet, term: str, *, prefix_ids: bool = False) -> QuerySet:
    """Persons of ``queryset`` matching ``term``; raises ``SearchError`` for a bad number."""
    term = unicodedata.normalize("NFKC", term or "").strip()
    if not term:
        return queryset
    compact = re.sub(r"\s+", "", term)
    if looks_like_id(compact):
        try:
            number = str(parse_citizen_id(compact))
        except InvalidCitizenId as exc:
            typed = normalize_citizen_id_text(compact)
            if prefix_ids and 6 <= len(typed) < 18 and re.fullmatch(r"[0-9]+X?", typed):
                return queryset.filter(citizen_id__gte=typed, citizen_id__lte=typed + "Z")
            raise SearchError(f"无法按身份号码查找：{exc.message_zh}") from exc
        corrected = CitizenIdCorrection.objects.filter(old_citizen_id=number).values("person_id")
        return queryset.filter(Q(citizen_id=number) | Q(pk__in=corrected))
    words = term.split()
    if len(words) >= 2:
        born = _date(words[-1]) or _date("".join(words[1:]))
        if born is not None:
            return queryset.filter(_name_q(words[0]), birth_date=born)
    if re.fullmatch(r"[A-Za-züÜ' ]+", term):
        pattern = pinyin_pattern(term)
        return queryset.filter(name__regex=pattern) if pattern else queryset.none()
    return queryset.filter(_name_q(compact))
