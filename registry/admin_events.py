"""Registration events as admin forms (户籍登记事项办理), reached from person and household pages.

Each form validates what it can, then calls the service in ``registry.services``; a refusal
(``DomainError``) is shown on the field it concerns (``FIELD_OF_CODE`` and each form's
``error_fields``) or above the form, and changes nothing. Everything is scoped by jurisdiction:
the person or household must be inside the user's area (a person also through a break-the-glass
grant), and a target household must be inside the area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from population.audit import access_log_admin_read
from population.clock import today
from population.codes import ETHNICITIES, Relation
from population.errors import DomainError
from population.identity import mask_citizen_id
from population.jurisdiction import area_of, break_glass_accesses, persons_within
from population.models import Person, Region, RegionLevel, Sex
from registry import services
from registry.jurisdiction import household_q
from registry.models import Correction, CorrectionField, Household, HouseholdKind, Membership
from registry.prints import card

EVENT_PERMISSION = "registry.add_registrationevent"
FULL_ID_PERMISSION = "population.view_full_citizen_id"

# Where a service's refusal belongs on a form (when the form has that field).
FIELD_OF_CODE = {
    "reason_required": "reason",
    "future_date": "on",
    "date_order": "on",
    "invalid_name": "name",
    "bad_sex": "sex",
    "bad_relation": "relation",
    "head_exists": "relation",
    "invalid_citizen_id": "citizen_id",
    "already_registered": "citizen_id",
    "same_household": "to_household",
    "bad_household_kind": "to_household",
    "household_closed": "to_household",
    "consent_required": "owner_consent_document",
    "destination_required": "destination",
    "address_required": "address",
    "bad_region": "region",
    "outside_jurisdiction": "region",
    "not_a_member": "new_head",
    "no_change": "new_head",
}

NON_HEAD_RELATIONS = [(v, label) for v, label in Relation.choices if v != Relation.HEAD]


class EventForm(forms.Form):
    """Base: every event has a date (``on``) and a reason; the user's area scopes households."""

    reason = forms.CharField(label="办理原因", max_length=200, help_text="记入登记事项和变更历史")
    error_fields: dict[str, str] = {}

    def __init__(self, *args, user, subject, **kwargs):
        self.user = user
        self.subject = subject
        super().__init__(*args, **kwargs)
        if "reason" in self.fields and self.default_reason:
            self.fields["reason"].initial = self.default_reason
        # the reason comes last on the page
        self.order_fields([f for f in self.fields if f != "reason"] + ["reason"])

    default_reason = ""

    def household_in_area(self, number: str) -> Household:
        number = (number or "").strip()
        household = (
            Household.objects.filter(household_q(area_of(self.user)), number=number)
            .select_related("region")
            .first()
        )
        if household is None:
            raise forms.ValidationError("在您的辖区内未找到此户号", code="not_found")
        if household.closed_on is not None:
            raise forms.ValidationError(f"户{household.number}已销户", code="closed")
        return household

    def field_for(self, code: str) -> str | None:
        name = self.error_fields.get(code) or FIELD_OF_CODE.get(code)
        return name if name in self.fields else None


def _date_input() -> forms.DateInput:
    # <input type=date> takes ISO dates only; the zh-hans format (2026/12/03) would be dropped.
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(label=label, initial=today, widget=_date_input())


# -- person events ------------------------------------------------------------------------------


class DeathForm(EventForm):
    on = _date_field("死亡日期")
    document_number = forms.CharField(
        label="死亡医学证明编号", max_length=60, required=False, help_text="或殡葬证明编号"
    )
    default_reason = "死亡注销"
    error_fields = {"document_required": "document_number"}


class MoveOutForm(EventForm):
    destination = forms.CharField(label="迁往地", max_length=200, required=False)
    on = _date_field("迁出日期")
    default_reason = "迁出"


class MoveWithinForm(EventForm):
    to_household = forms.CharField(label="迁入户号", max_length=20, help_text="本辖区内的户号")
    relation = forms.ChoiceField(label="与新户户主关系", choices=Relation.choices)
    on = _date_field("迁移日期")
    default_reason = "市内迁移"

    def clean_to_household(self):
        return self.household_in_area(self.cleaned_data["to_household"])


class AttachForm(MoveWithinForm):
    owner_consent_document = forms.CharField(
        label="户主同意证明编号",
        max_length=60,
        required=False,
        help_text="房屋所有权人（户主）书面同意",
    )
    default_reason = "挂靠亲属户"


class CollectiveForm(EventForm):
    to_household = forms.CharField(
        label="集体户户号", max_length=20, help_text="单位、公共（社区）或人才集体户"
    )
    on = _date_field("落户日期")
    default_reason = "集体户落户"

    def clean_to_household(self):
        return self.household_in_area(self.cleaned_data["to_household"])


CORRECTION_DOCUMENTS = [
    ("", "请选择"),
    ("出生医学证明", "出生医学证明"),
    ("居民身份证", "居民身份证"),
    ("户口簿", "户口簿"),
    ("公安机关调查核实材料", "公安机关调查核实材料"),
    ("原始户籍档案", "原始户籍档案"),
    ("其他证明材料", "其他证明材料"),
]


class CorrectionForm(EventForm):
    """变更更正登记: one recorded field, its new value, the paper it rests on and why.

    Identity fields (姓名, 公民身份号码, 民族) wait for a supervisor's approval; a relation is
    corrected at once (the head changes only through 变更户主).
    """

    field = forms.ChoiceField(label="更正项目", choices=[("", "请选择"), *CorrectionField.choices])
    new_value = forms.CharField(
        label="更正后的姓名或号码",
        max_length=50,
        required=False,
        help_text="更正姓名或公民身份号码时填写；号码可输入全角数字或小写x",
    )
    new_ethnicity = forms.ChoiceField(
        label="更正后的民族", choices=[("", "请选择"), *ETHNICITIES], required=False
    )
    new_relation = forms.ChoiceField(
        label="更正后的与户主关系",
        choices=[("", "请选择"), *[c for c in NON_HEAD_RELATIONS if c[0] != Relation.SELF]],
        required=False,
    )
    document_type = forms.ChoiceField(label="依据材料", choices=CORRECTION_DOCUMENTS)
    document_number = forms.CharField(label="材料编号", max_length=60, required=False)
    default_reason = ""
    error_fields = {"document_required": "document_number"}
    VALUE_FIELDS = {
        CorrectionField.NAME: "new_value",
        CorrectionField.CITIZEN_ID: "new_value",
        CorrectionField.ETHNICITY: "new_ethnicity",
        CorrectionField.RELATION: "new_relation",
    }
    VALUE_CODES = frozenset(
        {"invalid_citizen_id", "invalid_name", "duplicate_citizen_id", "no_change", "bad_ethnicity",
         "bad_relation", "correction_pending"}
    )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        field = cleaned.get("field")
        if field:
            target = self.VALUE_FIELDS[field]
            if not cleaned.get(target) and target not in self.errors:
                self.add_error(target, "请填写更正后的内容")
            cleaned["value"] = cleaned.get(target, "")
        return cleaned

    def field_for(self, code: str) -> str | None:
        if code in self.VALUE_CODES and self.cleaned_data.get("field"):
            return self.VALUE_FIELDS[self.cleaned_data["field"]]
        return super().field_for(code)


# -- household events ---------------------------------------------------------------------------


class BirthForm(EventForm):
    name = forms.CharField(label="姓名", max_length=50)
    sex = forms.TypedChoiceField(label="性别", choices=Sex.choices, coerce=int)
    birth_date = forms.DateField(label="出生日期", widget=_date_input())
    ethnicity = forms.ChoiceField(label="民族", choices=ETHNICITIES, initial="01")
    # No default: the officer picks the newborn's relation (a default of 本人 made babies heads).
    relation = forms.ChoiceField(
        label="与户主关系",
        choices=[("", "请选择"), *Relation.choices],
        help_text="例如：子、女、孙子",
    )
    birth_certificate_number = forms.CharField(
        label="出生医学证明编号", max_length=60, required=False
    )
    default_reason = "出生登记"
    error_fields = {
        "document_required": "birth_certificate_number",
        "future_date": "birth_date",
        "date_order": "birth_date",
    }


class MoveInForm(EventForm):
    citizen_id = forms.CharField(label="公民身份号码", max_length=40)
    name = forms.CharField(
        label="姓名", max_length=50, required=False, help_text="本库尚无此人时必填"
    )
    ethnicity = forms.ChoiceField(label="民族", choices=ETHNICITIES, initial="01")
    relation = forms.ChoiceField(label="与户主关系", choices=Relation.choices)
    transfer_permit_number = forms.CharField(label="户口迁移证编号", max_length=60, required=False)
    on = _date_field("迁入日期")
    default_reason = "迁入"
    error_fields = {"document_required": "transfer_permit_number"}


def _members(household: Household) -> list[Membership]:
    return list(
        Membership.objects.filter(household=household, end_date__isnull=True)
        .select_related("person")
        .order_by("relation", "person__birth_date", "pk")
    )


class HeadChangeForm(EventForm):
    new_head = forms.TypedChoiceField(label="新户主", coerce=int)
    former_head_relation = forms.ChoiceField(
        label="原户主改为", choices=NON_HEAD_RELATIONS, help_text="原户主与新户主的关系"
    )
    on = _date_field("变更日期")
    default_reason = "变更户主"
    error_fields = {"bad_relation": "former_head_relation"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_head"].choices = [
            (m.person_id, f"{m.person.name}（{m.get_relation_display()}）")
            for m in _members(self.subject)
            if m.relation != Relation.HEAD
        ]


class SplitForm(EventForm):
    """分户: pick who leaves and each one's relation to the new head (one of them is 户主)."""

    address = forms.CharField(label="新户住址", max_length=200)
    region = forms.CharField(
        label="新户所在村（居）代码", max_length=12, required=False, help_text="留空则与原户相同"
    )
    on = _date_field("分户日期")
    default_reason = "分户"
    error_fields = {
        "members_required": "__all__",
        "head_must_change": "__all__",
        "nobody_left": "__all__",
        "duplicate_member": "__all__",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.member_fields = []
        for m in _members(self.subject):
            name = f"member_{m.person_id}"
            self.fields[name] = forms.ChoiceField(
                label=f"{m.person.name}（现为{m.get_relation_display()}）",
                choices=[("", "留在原户"), *Relation.choices],
                required=False,
            )
            self.member_fields.append((name, m.person))
        self.order_fields(
            [n for n, _ in self.member_fields] + ["address", "region", "on", "reason"]
        )

    def clean_region(self) -> Region | None:
        code = self.cleaned_data["region"].strip()
        if not code:
            return None
        region = Region.objects.filter(code=code, level=RegionLevel.VILLAGE).first()
        if region is None:
            raise forms.ValidationError("区划代码应为12位村（居）级代码", code="bad_region")
        if not area_of(self.user).covers_code(region.code):
            raise forms.ValidationError(f"“{region.name}”不在您的辖区内", code="outside")
        return region

    def clean(self):
        cleaned = super().clean()
        leaving = [(p, cleaned.get(n)) for n, p in self.member_fields if cleaned.get(n)]
        if not leaving:
            raise forms.ValidationError("请为分出的成员选择与新户主的关系", code="members_required")
        heads = [p for p, r in leaving if r in services.HEAD_RELATIONS]
        if len(heads) != 1:
            raise forms.ValidationError("分出的成员中须有且只有一位新户主", code="bad_relation")
        # the service takes the new head first
        cleaned["members"] = sorted(leaving, key=lambda pr: pr[1] not in services.HEAD_RELATIONS)
        return cleaned


class CloseForm(EventForm):
    on = _date_field("销户日期")
    default_reason = "销户"
    error_fields = {"household_not_empty": "__all__", "future_date": "on"}


# -- the events ---------------------------------------------------------------------------------


def _membership_of(person: Person) -> Household | None:
    m = Membership.objects.filter(person=person, end_date__isnull=True).first()
    return m.household if m else None


@dataclass(frozen=True)
class EventSpec:
    slug: str
    title: str
    form: type[EventForm]
    run: Callable[[Any, dict, Any, Household | None], Any]
    done: str | Callable[[Any, Any], str]  # a format string, or (result, request) -> message
    subject: str  # "person" or "household"
    applies: Callable[[Any], bool] = field(default=lambda subject: True)


def _death(p, d, u, seen):
    return services.death_cancel(
        person=p, death_date=d["on"], document_number=d["document_number"], actor=u,
        reason=d["reason"],
    )  # fmt: skip


def _move_out(p, d, u, seen):
    return services.move_out(
        person=p, from_household=seen, destination=d["destination"], on=d["on"], actor=u,
        reason=d["reason"],
    )  # fmt: skip


def _move_within(p, d, u, seen):
    return services.move_within_city(
        person=p, from_household=seen, to_household=d["to_household"], relation=d["relation"],
        on=d["on"], actor=u, reason=d["reason"],
    )  # fmt: skip


def _attach(p, d, u, seen):
    return services.attach_to_relative(
        person=p, from_household=seen, to_household=d["to_household"], relation=d["relation"],
        owner_consent_document=d["owner_consent_document"], on=d["on"], actor=u,
        reason=d["reason"],
    )  # fmt: skip


def _collective(p, d, u, seen):
    return services.settle_into_collective(
        person=p, from_household=seen, to_household=d["to_household"], on=d["on"], actor=u,
        reason=d["reason"],
    )  # fmt: skip


def _correction(p, d, u, seen):
    if d["field"] == CorrectionField.RELATION:
        return services.relation_correct(
            person=p, household=seen, relation=d["value"], document_type=d["document_type"],
            document_number=d["document_number"], actor=u, reason=d["reason"],
        )  # fmt: skip
    return services.correction_propose(
        person=p, field=d["field"], new_value=d["value"], document_type=d["document_type"],
        document_number=d["document_number"], reason=d["reason"], actor=u,
    )  # fmt: skip


def correction_value_display(field: str, value: str, *, full_id: bool) -> str:
    """A corrected value as an officer reads it (names of codes, masked numbers)."""
    if field == CorrectionField.ETHNICITY:
        return dict(ETHNICITIES).get(value, value)
    if field == CorrectionField.RELATION:
        return Relation(value).label if value in Relation.values else value
    if field == CorrectionField.CITIZEN_ID and not full_id:
        return mask_citizen_id(value)
    return value


def _correction_done(result, request) -> str:
    full = request.user.has_perm(FULL_ID_PERMISSION)
    if isinstance(result, Correction):
        old = correction_value_display(result.field, result.old_value, full_id=full)
        new = correction_value_display(result.field, result.new_value, full_id=full)
        label = CorrectionField(result.field).label.split("（")[0]
        return f"已提交变更更正登记（{label}：{old} → {new}），待户籍主管审批"
    old = Relation(result.details["old"]).label
    new = Relation(result.details["new"]).label
    return f"已办理变更更正登记：与户主关系由“{old}”更正为“{new}”"


def _birth(h, d, u, seen):
    return services.birth_register(
        household=h, name=d["name"], sex=d["sex"], birth_date=d["birth_date"],
        relation=d["relation"], birth_certificate_number=d["birth_certificate_number"],
        ethnicity=d["ethnicity"], actor=u, reason=d["reason"],
    )  # fmt: skip


def _move_in(h, d, u, seen):
    return services.move_in(
        citizen_id=d["citizen_id"], name=d["name"], household=h, relation=d["relation"],
        transfer_permit_number=d["transfer_permit_number"], on=d["on"],
        ethnicity=d["ethnicity"], actor=u, reason=d["reason"],
    )  # fmt: skip


def _head_change(h, d, u, seen):
    return services.head_change(
        household=h, new_head=Person.objects.get(pk=d["new_head"]),
        former_head_relation=d["former_head_relation"], on=d["on"], actor=u,
        reason=d["reason"],
    )  # fmt: skip


def _split(h, d, u, seen):
    return services.household_split(
        household=h, members=d["members"], address=d["address"], region=d["region"],
        on=d["on"], actor=u, reason=d["reason"],
    )  # fmt: skip


def _close(h, d, u, seen):
    return services.household_close(household=h, on=d["on"], actor=u, reason=d["reason"])


def _birth_done(person: Person, request) -> str:
    """The allocated number, in full only for roles that may see full numbers."""
    full = request.user.has_perm(FULL_ID_PERMISSION)
    number = person.citizen_id if full else mask_citizen_id(person.citizen_id)
    access_log_admin_read(
        request,
        channel="admin.event.birth",
        person_ids=[person.pk],
        fields=["name", "citizen_id" if full else "masked_citizen_id"],
    )
    return f"已办理出生登记：{person.name}，公民身份号码{number}"


def _is_family(household: Household) -> bool:
    return household.kind == HouseholdKind.FAMILY


PERSON_EVENTS = [
    EventSpec("death", "死亡注销", DeathForm, _death, "已办理死亡注销", "person"),
    EventSpec(
        "move_out",
        "迁出",
        MoveOutForm,
        _move_out,
        "已办理迁出，户口迁移证编号：{result.document_number}",
        "person",
    ),
    EventSpec("move_within", "市内迁移", MoveWithinForm, _move_within, "已办理市内迁移", "person"),
    EventSpec("attach", "挂靠亲属户", AttachForm, _attach, "已办理挂靠", "person"),
    EventSpec(
        "collective", "集体户落户", CollectiveForm, _collective, "已办理集体户落户", "person"
    ),
    EventSpec(
        "correction", "变更更正登记", CorrectionForm, _correction, _correction_done, "person"
    ),
]

HOUSEHOLD_EVENTS = [
    EventSpec("birth", "出生登记", BirthForm, _birth, _birth_done, "household"),
    EventSpec("move_in", "迁入", MoveInForm, _move_in, "已办理迁入", "household"),
    EventSpec(
        "head_change",
        "变更户主",
        HeadChangeForm,
        _head_change,
        "已变更户主",
        "household",
        _is_family,
    ),
    EventSpec(
        "split",
        "分户",
        SplitForm,
        _split,
        "已分户，新户号：{result.number}",
        "household",
        _is_family,
    ),
    EventSpec("close", "销户", CloseForm, _close, "已销户", "household"),
]


def household_book(household: Household, *, full_id: bool) -> list[dict]:
    """The current members as a 户口簿 lists them: head first, then by relation and age."""
    return [card(m, m.person, full_id=full_id) for m in _members(household)]


def event_urls(model_admin, specs, *, route: str, name: str) -> list:
    """One admin URL per event of ``specs``, each served by ``event_view``: ``route`` and
    ``name`` with ``{slug}`` replaced by the event's slug."""
    return [
        path(
            route.format(slug=spec.slug),
            model_admin.admin_site.admin_view(
                lambda request, object_id, spec=spec: event_view(
                    model_admin, request, object_id, spec
                )
            ),
            name=name.format(slug=spec.slug),
        )
        for spec in specs
    ]


def event_view(model_admin, request, object_id: int, spec: EventSpec):
    """One event form: scoped subject, permission, service call, field-level errors."""
    if not request.user.has_perm(EVENT_PERMISSION):
        raise PermissionDenied
    if spec.subject == "person":
        subject = persons_within(request.user).filter(pk=object_id).first()
        back = reverse("admin:population_person_change", args=[object_id])
    else:
        subject = model_admin.get_queryset(request).filter(pk=object_id).first()
        back = reverse("admin:registry_household_change", args=[object_id])
    if subject is None:
        raise Http404("不存在或不在您的辖区内")
    seen = _membership_of(subject) if spec.subject == "person" else None
    if request.method == "POST":
        # the household the officer saw; the service refuses if it changed meanwhile
        seen_id = request.POST.get("seen_household") or None
        seen = Household.objects.filter(pk=seen_id).first() if seen_id else None
    form = spec.form(request.POST or None, user=request.user, subject=subject)
    if request.method == "POST" and form.is_valid():
        try:
            result = spec.run(subject, form.cleaned_data, request.user, seen)
        except DomainError as exc:
            target = form.field_for(exc.code)
            form.add_error(None if target in (None, "__all__") else target, exc.message_zh)
        else:
            if callable(spec.done):
                messages.success(request, spec.done(result, request))
            else:
                messages.success(request, spec.done.format(result=result))
            return HttpResponseRedirect(back)
    ids = [subject.pk] if spec.subject == "person" else [m.person_id for m in _members(subject)]
    if ids:
        fields = ["name", "masked_citizen_id", "relation"]
        access_log_admin_read(
            request, channel=f"admin.event.{spec.slug}", person_ids=ids, fields=fields
        )
        break_glass_accesses(request, person_ids=ids, fields=fields)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": spec.title,
        "spec": spec,
        "subject": subject,
        "seen": seen,
        "form": form,
        "back": back,
        "opts": model_admin.opts,
    }
    return TemplateResponse(request, "admin/registry/event_form.html", context)
