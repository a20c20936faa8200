"""A person's record as officers read it: every change, in order, old → new, in Chinese.

``population`` shows what its own history holds (changes of the person record, from the
pghistory triggers); higher apps add sections of their own (the registry: the current household,
the registration events, the prints) through ``person_page_section_hook``, so this app
still imports none of them. The person page shows the sections under the form, and the admin's
历史 page shows the same sections instead of Django's empty change log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from population.admin_utils import staff_name
from population.codes import ETHNICITIES
from population.hooks import Hook
from population.identity import mask_citizen_id
from population.models import Person, PersonStatus, Region, Sex

FULL_ID_PERMISSION = "population.view_full_citizen_id"

# Fields of the person record in the order a 常住人口登记卡 lists them.
PERSON_FIELDS = {
    "name": "姓名",
    "citizen_id": "公民身份号码",
    "sex": "性别",
    "birth_date": "出生日期",
    "ethnicity": "民族",
    "status": "状态",
    "hukou_region": "户籍地",
    "residence_region": "实际居住地",
}


@dataclass
class Change:
    """One change of a record: when, who, why, and each field's old and new value."""

    at: object
    title: str
    officer: str = ""
    reason: str = ""
    values: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)


def _usernames(ids) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in={i for i in ids if i})
    return {u.pk: staff_name(u) for u in users}


def person_record_changes(person: Person, *, full_id: bool) -> list[Change]:
    """The person record's history (pghistory rows), oldest first, as field changes."""
    rows = list(
        Person.pgh_event_model.objects.filter(pgh_obj_id=person.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )
    codes = {getattr(r, f"{f}_id") for r in rows for f in ("hukou_region", "residence_region")}
    regions = dict(Region.objects.filter(code__in=codes - {None}).values_list("code", "name"))
    users = _usernames(
        (r.pgh_context.metadata or {}).get("user") for r in rows if r.pgh_context is not None
    )

    def shown(row, name: str) -> str:
        if name in ("hukou_region", "residence_region"):
            code = getattr(row, f"{name}_id")
            return regions.get(code, code) if code else "无"
        value = getattr(row, name)
        if name == "citizen_id":
            return value if full_id else mask_citizen_id(value)
        if name == "sex":
            return Sex(value).label
        if name == "status":
            return PersonStatus(value).label
        if name == "ethnicity":
            return dict(ETHNICITIES).get(value, value)
        if name == "birth_date":
            return f"{value:%Y年%-m月%-d日}"
        return str(value)

    changes: list[Change] = []
    previous = None
    for row in rows:
        metadata = (row.pgh_context.metadata if row.pgh_context else None) or {}
        entry = Change(
            at=row.pgh_created_at,
            title="建立记录" if previous is None else "信息变更",
            officer=users.get(metadata.get("user"), "系统"),
            reason=str(metadata.get("reason") or ""),
        )
        for name, label in PERSON_FIELDS.items():
            new = shown(row, name)
            old = shown(previous, name) if previous is not None else ""
            if previous is None or old != new:
                entry.values.append((label, old, new))
        previous = row
        if entry.values:
            changes.append(entry)
    return changes


# -- sections contributed by higher apps -------------------------------------------------------

Section = Callable[[object, Person], str]


def _qualified_name(section: Section) -> str:
    return f"{section.__module__}.{section.__qualname__}"


# A higher app adds a block to the person page and its 历史 page: (request, person) -> HTML.
person_page_section_hook: Hook[Section] = Hook(
    "population.person_page_sections", key=_qualified_name
)


def person_sections(request, person: Person) -> list[SafeString]:
    """The person's story: the higher apps' sections, then the record's own changes."""
    html = [mark_safe(section(request, person)) for section in person_page_section_hook]  # noqa: S308
    full = request.user.has_perm(FULL_ID_PERMISSION)
    html.append(
        render_to_string(
            "admin/population/person/record_changes.html",
            {"changes": list(reversed(person_record_changes(person, full_id=full)))},
            request=request,
        )
    )
    return html
