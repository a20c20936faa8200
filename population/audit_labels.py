"""Chinese names of the access-log channels, for the 查阅日志 admin (the log keeps the codes).

The base library names its own pages and channels here; every other app registers the names of
the channels, fields and purposes it writes from its ``AppConfig.ready``
(``page_label_hook``, ``channel_label_hook``, ``field_prefix_hook``, ``purpose_label_hook``), so
this module holds no list of a higher app's names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from population.hooks import Hook


@dataclass(frozen=True)
class PageLabel:
    """An admin page's name: channel ``admin.<name>`` and its list ``admin.<name>_list``.

    ``offered`` are the suffixes of the channels the 查阅日志 filter offers (``""`` the page,
    ``"_list"`` its list, ``".pdf"`` a print's PDF copy); ``forms`` names the channels
    ``admin.<name>.<form>`` (one per form of the page).
    """

    name: str
    label: str
    offered: tuple[str, ...] = ("",)
    forms: str = ""


@dataclass(frozen=True)
class Label:
    """The Chinese name of a code: a whole channel (``api.facts``) or a stated purpose."""

    name: str
    label: str


@dataclass(frozen=True)
class FieldPrefix:
    """Field codes ``<name><rest>`` (``fact:…``), named by ``label(rest)``."""

    name: str
    label: Callable[[str], str]


page_label_hook: Hook[PageLabel] = Hook("audit.page_labels")
channel_label_hook: Hook[Label] = Hook("audit.channel_labels")
field_prefix_hook: Hook[FieldPrefix] = Hook("audit.field_prefixes")
purpose_label_hook: Hook[Label] = Hook("audit.purpose_labels")

for _page in (
    PageLabel("person", "人员页面", offered=("", "_list")),
    PageLabel("person_correct_id", "身份号码更正页面"),
    PageLabel("person_autocomplete", "人员查找（输入即查）"),
    PageLabel("person_reads", "查询记录页面"),
    PageLabel("print", "文书打印", offered=()),  # a print no app has named
):
    page_label_hook.register(_page)
channel_label_hook.register(Label("break_glass", "跨辖区查询"))


def _page_label(name: str) -> str:
    page = page_label_hook.get(name)
    if page is not None:
        return page.label
    base, _, form = name.partition(".")
    page = page_label_hook.get(base)
    if page is None:
        return "其他页面"
    return (page.forms or page.label) if form else page.label


def channel_label(channel: str) -> str:
    """'admin.person_list' → '后台：人员页面（列表）'; unknown codes get a plain Chinese name."""
    named = channel_label_hook.get(channel)
    if named is not None:
        return named.label
    if channel.startswith("admin.") and channel.endswith(".pdf"):  # a print's PDF copy
        return f"{channel_label(channel.removesuffix('.pdf'))}（电子版）"
    if channel.startswith("admin."):
        name = channel.removeprefix("admin.")
        listing = name.endswith("_list")
        name = name.removesuffix("_list")
        return f"后台：{_page_label(name)}{'（列表）' if listing else ''}"
    if channel.startswith("api."):
        return "共享接口：其他"
    return "其他"


class _KnownChannels(Sequence[str]):
    """The channel codes the 查阅日志 filter offers, read from the hooks when asked (the apps
    register theirs at start-up)."""

    def _codes(self) -> list[str]:
        pages = [f"admin.{p.name}{suffix}" for p in page_label_hook for suffix in p.offered]
        return [*pages, *channel_label_hook.keys()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes())

    def __len__(self) -> int:
        return len(self._codes())

    def __getitem__(self, index):
        return self._codes()[index]


KNOWN_CHANNELS: Sequence[str] = _KnownChannels()


# Field codes the log stores that are not a model field's name (computed columns, API terms).
FIELD_LABELS = {
    "citizen_id": "公民身份号码",
    "masked_id": "公民身份号码（掩码）",
    "masked_citizen_id": "公民身份号码（掩码）",
    "shown_citizen_id": "公民身份号码",
    "hukou_region": "户籍地",
    "hukou_region_name": "户籍地",
    "residence_region": "实际居住地",
    "change_kind": "变更类别",
    "history": "变更历史",
    "registration_events": "登记事项",
    "record_changes": "记录变更",
    "reads": "查阅记录",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "ethnicity": "民族",
    "status": "状态",
}


@functools.cache
def _known_field_labels() -> dict[str, str]:
    """Chinese names of field codes, from the admins' column titles and the models' fields."""
    from django.apps import apps
    from django.contrib import admin

    found: dict[str, str] = {}
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            verbose = getattr(model_field, "verbose_name", None)
            if verbose and not str(verbose).isascii():
                found.setdefault(model_field.name, str(verbose))
    for model_admin in admin.site._registry.values():
        for name in dir(type(model_admin)):
            description = getattr(getattr(type(model_admin), name, None), "short_description", "")
            if description and not str(description).isascii():
                found.setdefault(name, str(description))
    return found


def field_label(code: str) -> str:
    """'hukou_region_name' → '户籍地'; 'fact:…' → '事实核验：…'; unknown → '其他字段'."""
    if code in FIELD_LABELS:
        return FIELD_LABELS[code]
    for prefix in field_prefix_hook:
        if code.startswith(prefix.name):
            return prefix.label(code.removeprefix(prefix.name))
    return _known_field_labels().get(code, "其他字段")


def purpose_label(purpose: str) -> str:
    """'social_insurance 社会保险经办' (how the API logs a purpose) → '社会保险经办'; other text
    as written."""
    code, _, rest = purpose.partition(" ")
    named = purpose_label_hook.get(code)
    if named is not None:
        return rest or named.label
    return purpose
