"""The registry's part of the person page and its 历史 page: the 户口 story.

Current household (户号, address, relation, a link to the household), every registration event
in order with old → new values in Chinese, corrections waiting for or refused approval, and
the documents printed for the person. Registered with ``population.admin_story``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse

from population.admin_story import FULL_ID_PERMISSION
from population.admin_utils import staff_name
from population.codes import Relation
from population.jurisdiction import area_of
from population.models import AccessLog, Person
from registry.admin_events import correction_value_display
from registry.jurisdiction import household_q
from registry.models import (
    Correction,
    CorrectionField,
    CorrectionStatus,
    EventKind,
    Household,
    Membership,
    RegistrationEvent,
)

# Access-log channels of the print pages, and what each printed (a PDF copy is logged on the
# page's channel with ".pdf", see population/pdf.py).
_PRINTS = {
    "admin.household_print": "户口簿",
    "admin.print.register_form": "常住人口登记表",
    "admin.print.transfer_permit": "户口迁移证",
    "admin.print.admission_certificate": "准予迁入证明",
    "admin.residence_permit_print": "居住证",
}
PRINT_CHANNELS = {
    **_PRINTS,
    **{f"{channel}.pdf": f"{document}（电子版）" for channel, document in _PRINTS.items()},
}


def _names(usernames) -> dict[str, str]:
    """Account names to the names colleagues know (full name, else the account name)."""
    usernames = {u for u in usernames if u}
    found = {
        u.username: staff_name(u) for u in get_user_model().objects.filter(username__in=usernames)
    }
    return {u: found.get(u, u) for u in usernames}


def _relation(code: str | None) -> str:
    return Relation(code).label if code in Relation.values else "—"


def _household_text(household: Household | None, links: dict[int, str]) -> tuple[str, str]:
    if household is None:
        return "", ""
    return f"{household.number}（{household.address}）", links.get(household.pk, "")


def event_lines(
    e: RegistrationEvent, *, full_id: bool, relations: dict | None = None
) -> list[tuple[str, str, str]]:
    """What an event changed, as (label, old, new) in Chinese (no stored codes or JSON)."""
    if relations is None:
        relations = {
            (m.household_id, m.start_date): m.relation
            for m in Membership.objects.filter(person_id=e.person_id)
        }
    full = full_id
    lines: list[tuple[str, str, str]] = []
    d = e.details or {}
    if e.kind == EventKind.CORRECTION:
        field = d.get("field", "")
        label = CorrectionField(field).label.split("（")[0] if field else "更正"
        old = correction_value_display(field, d.get("old", ""), full_id=full)
        new = correction_value_display(field, d.get("new", ""), full_id=full)
        lines.append((label, old, new))
        if d.get("approved_by"):
            who = _names({d.get("proposed_by"), d["approved_by"]})
            proposer = who.get(d.get("proposed_by"), "—")
            lines.append(("审批", "", f"{proposer}申请，{who[d['approved_by']]}批准"))
    elif e.kind == EventKind.HEAD_CHANGE:
        lines.append(("与户主关系", "", "户主"))
    else:
        if e.from_household_id and e.from_household_id != e.to_household_id:
            lines.append(("原户", "", f"{e.from_household.number}（{e.from_household.address}）"))
        if e.to_household_id and e.from_household_id != e.to_household_id:
            relation = relations.get((e.to_household_id, e.effective_date))
            lines.append(
                ("迁入户", "", f"{e.to_household.number}（{e.to_household.address}），"
                 f"与户主关系：{_relation(relation)}")
            )  # fmt: skip
        if e.kind == EventKind.MOVE_OUT and d.get("destination"):
            lines.append(("迁往地", "", d["destination"]))
        if e.kind == EventKind.DEATH:
            lines.append(("状态", "正常", "死亡"))
    return lines


def event_rows(request, person: Person) -> list[dict]:
    """Each registration event of the person, oldest first, as old → new lines."""
    full = request.user.has_perm(FULL_ID_PERMISSION)
    events = list(
        RegistrationEvent.objects.filter(person=person)
        .select_related("from_household", "to_household", "officer")
        .order_by("effective_date", "pk")
    )
    relations: dict[tuple[int, object], str] = {
        (m.household_id, m.start_date): m.relation for m in Membership.objects.filter(person=person)
    }
    rows = []
    for e in events:
        lines = event_lines(e, full_id=full, relations=relations)
        rows.append(
            {
                "date": e.effective_date,
                "kind": e.get_kind_display(),
                "lines": lines,
                "document": " ".join(x for x in (e.document_type, e.document_number) if x),
                "officer": staff_name(e.officer, nobody="系统"),
                "reason": e.reason,
                "print": reverse("admin:registry_event_transfer_permit", args=[e.pk])
                if e.kind == EventKind.MOVE_OUT
                else "",
            }
        )
    return rows


def person_hukou_section(request, person: Person) -> str:
    full = request.user.has_perm(FULL_ID_PERMISSION)
    membership = (
        Membership.objects.filter(person=person, end_date__isnull=True)
        .select_related("household__region")
        .first()
    )
    current = None
    if membership is not None:
        household = membership.household
        visible = Household.objects.filter(household_q(area_of(request.user)), pk=household.pk)
        current = {
            "number": household.number,
            "address": household.address,
            "region": household.region.name,
            "kind": household.get_kind_display(),
            "relation": membership.get_relation_display(),
            "since": membership.start_date,
            "link": reverse("admin:registry_household_change", args=[household.pk])
            if visible.exists()
            else "",
        }
    open_corrections = [
        {
            "at": c.proposed_at,
            "status": c.get_status_display(),
            "field": c.get_field_display().split("（")[0],
            "old": correction_value_display(c.field, c.old_value, full_id=full),
            "new": correction_value_display(c.field, c.new_value, full_id=full),
            "note": c.decision_note,
            "link": reverse("admin:registry_correction_change", args=[c.pk]),
        }
        for c in Correction.objects.filter(person=person)
        .exclude(status=CorrectionStatus.APPROVED)
        .order_by("-pk")
    ]
    logs = list(
        AccessLog.objects.filter(
            person_ids__contains=[person.pk], channel__in=list(PRINT_CHANNELS)
        ).order_by("-id")[:50]
    )
    names = {
        u.username: staff_name(u)
        for u in get_user_model().objects.filter(username__in={log.username for log in logs})
    }
    prints = [
        {
            "at": log.at,
            "document": PRINT_CHANNELS[log.channel],
            "officer": names.get(log.username, log.username),
        }
        for log in logs
    ]
    return render_to_string(
        "admin/registry/person_hukou.html",
        {
            "current": current,
            "events": event_rows(request, person),
            "corrections": open_corrections,
            "prints": prints,
        },
        request=request,
    )


def household_event_rows(household: Household) -> list[dict]:
    """Every registration event naming the household, oldest first: who came, who left, why."""
    events = (
        RegistrationEvent.objects.filter(Q(from_household=household) | Q(to_household=household))
        .select_related("person", "from_household", "to_household", "officer")
        .order_by("effective_date", "pk")
    )
    rows = []
    for e in events:
        if e.kind in (EventKind.CORRECTION, EventKind.HEAD_CHANGE):
            direction = "本户"
        elif e.to_household_id == household.pk:
            direction = "入户"
        else:
            direction = "离户"
        rows.append(
            {
                "date": e.effective_date,
                "kind": e.get_kind_display(),
                "person": e.person.name,
                "direction": direction,
                "document": " ".join(x for x in (e.document_type, e.document_number) if x),
                "officer": staff_name(e.officer, nobody="系统"),
                "reason": e.reason,
            }
        )
    return rows
