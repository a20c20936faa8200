"""Citizen identity numbers (公民身份号码, GB 11643-1999).

``parse_citizen_id`` is the one gate every citizen ID passes through: it normalises what an
officer typed (full-width digits from a Chinese input method, lowercase ``x``, surrounding
spaces, a legacy 15-digit number) and checks structure, province, birth date and the
ISO 7064 MOD 11-2 check digit. A county code that no GB/T 2260 edition ever had is not a
rejection but a warning for the officer: real people carry numbers from codes long retired.

python-stdnum's ``cn.ric`` is deliberately not the validator (it rejects real numbers whose
county code did not exist in the birth year); only its GB/T 2260 code list is read.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
import unicodedata
from dataclasses import dataclass, field
from importlib import resources

# Weights 2^(17-i) mod 11 for positions 1..17; the remainder indexes the check character.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"
# Per position, digit character -> digit * weight: the check digit without int() per digit.
_WEIGHTED = tuple({str(d): d * w for d in range(10)} for w in _WEIGHTS)

# GB/T 2260 provinces, plus 71 (Taiwan), 81 (Hong Kong), 82 (Macao) and 83, the address code of
# residence permits for Taiwan residents.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip

EARLIEST_BIRTH_DATE = dt.date(1850, 1, 1)

MALE = 1  # GB/T 2261.1: 1 男
FEMALE = 2  # GB/T 2261.1: 2 女

_ID18 = re.compile(r"[0-9]{17}[0-9X]")
_ID15 = re.compile(r"[0-9]{15}")


class InvalidCitizenId(ValueError):
    """A citizen ID that fails GB 11643; ``part`` names what failed.

    ``part`` is one of ``length``, ``characters``, ``address_code``, ``birth_date``,
    ``check_digit``; the message gives the reason in Chinese and English.
    """

    def __init__(self, part: str, message_zh: str, message_en: str) -> None:
        self.part = part
        self.message_zh = message_zh
        self.message_en = message_en
        super().__init__(f"{message_zh} / {message_en}")


@dataclass(frozen=True)
class CitizenId:
    """A valid, normalised 18-character citizen ID."""

    number: str
    converted_from_15: bool = field(default=False, compare=False)  # same number, same ID
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return self.number

    @property
    def address_code(self) -> str:
        return self.number[:6]

    @property
    def province_code(self) -> str:
        return self.number[:2]

    @property
    def birth_date(self) -> dt.date:
        n = self.number
        return dt.date(int(n[6:10]), int(n[10:12]), int(n[12:14]))

    @property
    def sequence(self) -> str:
        return self.number[14:17]

    @property
    def sex(self) -> int:
        """1 male, 2 female (GB/T 2261.1): odd sequence digits are men."""
        return MALE if int(self.number[16]) % 2 else FEMALE

    @property
    def check_digit(self) -> str:
        return self.number[17]

    @property
    def masked(self) -> str:
        return mask_citizen_id(self.number)


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("check_digit needs exactly 17 digits")
    total = sum(table[d] for table, d in zip(_WEIGHTED, first17, strict=True))
    return _CHECK_CHARS[total % 11]


def mask_citizen_id(number: str) -> str:
    """Show the first 6 and last 4 characters only: ``441802********123X``."""
    if len(number) != 18:
        return "*" * len(number)
    return f"{number[:6]}{'*' * 8}{number[-4:]}"


def normalize_citizen_id_text(text: str) -> str:
    """Full-width forms to ASCII, trim surrounding whitespace, upper-case ``x``."""
    return unicodedata.normalize("NFKC", text).strip().upper()


@functools.cache
def known_county_codes() -> frozenset[str]:
    """Every 6-digit address code any GB/T 2260 edition had (python-stdnum's list)."""
    codes: set[str] = set()
    province = ""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line[0].isspace():
            province = line[:2]
            codes.add(province + "0000")
        else:
            codes.add(province + line.strip()[:4])
    # Hong Kong, Macao and Taiwan numbers use the province-level code only.
    codes.update({"710000", "810000", "820000", "830000"})
    return frozenset(codes)


def parse_citizen_id(text: str, *, today: dt.date | None = None) -> CitizenId:
    """Parse and validate a citizen ID, or raise ``InvalidCitizenId`` naming the failing part."""
    if not isinstance(text, str):
        raise InvalidCitizenId("characters", "公民身份号码必须是文本", "citizen ID must be text")
    # Fast path: already normalised input (what departments and forms mostly send) skips NFKC.
    if len(text) == 18 and text.isascii() and text.isalnum() and text == text.upper():
        number = text
    else:
        number = normalize_citizen_id_text(text)
    if len(number) not in (15, 18):
        raise InvalidCitizenId(
            "length",
            f"公民身份号码应为18位（旧号码15位），实际为{len(number)}位",
            f"citizen ID must have 18 characters (15 for a legacy number), got {len(number)}",
        )
    converted = False
    if len(number) == 15:
        if not _ID15.fullmatch(number):
            raise InvalidCitizenId(
                "characters",
                "15位旧号码只能由数字组成",
                "a legacy 15-digit citizen ID may contain digits only",
            )
        first17 = number[:6] + "19" + number[6:]
        _check_structure(first17, today)
        number = first17 + check_digit(first17)
        converted = True
    else:
        if not _ID18.fullmatch(number):
            raise InvalidCitizenId(
                "characters",
                "公民身份号码前17位必须是数字，最后一位为数字或X",
                "citizen ID must be 17 digits followed by a digit or X",
            )
        _check_structure(number[:17], today)
        expected = check_digit(number[:17])
        if number[17] != expected:
            raise InvalidCitizenId(
                "check_digit",
                f"校验码错误：应为{expected}，实际为{number[17]}",
                f"check digit is wrong: expected {expected}, got {number[17]}",
            )
    warnings: tuple[str, ...] = ()
    if number[:6] not in known_county_codes():
        warnings = (
            f"地址码{number[:6]}不在任何一版GB/T 2260中，请核实 / "
            f"address code {number[:6]} is in no GB/T 2260 edition; please verify",
        )
    return CitizenId(number=number, converted_from_15=converted, warnings=warnings)


def _check_structure(first17: str, today: dt.date | None) -> None:
    province = first17[:2]
    if province not in PROVINCE_CODES:
        raise InvalidCitizenId(
            "address_code",
            f"地址码错误：省级代码{province}不存在",
            f"address code is wrong: there is no province {province}",
        )
    try:
        born = dt.date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        raise InvalidCitizenId(
            "birth_date",
            f"出生日期码错误：{first17[6:14]}不是真实日期",
            f"birth date is wrong: {first17[6:14]} is not a real date",
        ) from None
    today = today or _today()
    if born > today:
        raise InvalidCitizenId(
            "birth_date",
            f"出生日期码错误：{born.isoformat()}晚于今天",
            f"birth date is wrong: {born.isoformat()} is in the future",
        )
    if born < EARLIEST_BIRTH_DATE:
        raise InvalidCitizenId(
            "birth_date",
            f"出生日期码错误：{born.isoformat()}早于{EARLIEST_BIRTH_DATE.year}年",
            f"birth date is wrong: {born.isoformat()} is before {EARLIEST_BIRTH_DATE.year}",
        )


_today_cached: tuple[float, dt.date] = (0.0, dt.date.min)


def _today() -> dt.date:
    """Today's local date, recomputed at most once a second (a batch parses 1,000 IDs)."""
    global _today_cached
    now = time.monotonic()
    if now - _today_cached[0] < 1.0:
        return _today_cached[1]
    try:
        from django.utils import timezone

        today = timezone.localdate()
    except Exception:  # settings not configured: plain library use
        today = dt.date.today()  # noqa: DTZ011
    _today_cached = (now, today)
    return today


def build_citizen_id(address_code: str, birth_date: dt.date, sequence: int) -> str:
    """Compose a valid 18-character number (used by birth registration and the demo city)."""
    if not (0 <= sequence <= 999):
        raise ValueError("sequence must be 0..999")
    first17 = f"{address_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)
