"""窗口受理: the settlement window screen of the admin (the application's add page).

The officer picks the applicant by citizen ID or name (autocomplete over the persons of their
area, or types the number and name of someone not yet on file), chooses a channel of the
city's current rule set while the eligibility of the facts on file and of the facts typed is
shown live, adds the accompanying members, and picks (autocomplete) or creates the destination
household with each person's relation to its head. Saving calls
``services.application_window_open``; a refusal shows on the field it concerns and changes
nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.utils.html import format_html, format_html_join

from population.admin_site import AccessLoggedAutocompleteJsonView
from population.clock import today
from population.codes import Relation
from population.errors import DomainError
from population.identity import InvalidCitizenId, parse_citizen_id
from population.jurisdiction import area_of, persons_within, records_within, region_required_within
from population.models import Person, Region, RegionLevel, UrbanRuralCode
from registry.models import Household, HouseholdKind
from registry.selectors import households_open, households_with_head
from settlement.conditions import MET, leaves
from settlement.facts import (
    DERIVED_FROM,
    INPUTS,
    VALUE_LABELS,
    fact_label,
    fact_value_label,
    region_urban_rural_code,
    relation_category,
)
from settlement.models import Application, ApplicationMember, RuleSet, Target
from settlement.rules import MEMBER_KINDS

MARKS = {"met": "✔ 符合", "unmet": "✘ 不符合", "missing": "？ 缺少证明"}
# 本人 (01) names the head on a registration card; relations here are to the head.
RELATIONS = [("", "请选择")] + [(v, label) for v, label in Relation.choices if v != Relation.SELF]
MEMBER_RELATIONS = [(v, label) for v, label in RELATIONS if v != Relation.HEAD]
BOOL_CHOICES = [("", "未知"), ("yes", "是"), ("no", "否")]
FACT_PREFIX = "fact_"
# Observations the window takes from the register, never typed: the destination household's
# urban-rural code, and (for a person registered in the city) that of the hukou region.
FROM_REGISTER = ("destination_urban_rural_code", "hukou_urban_rural_code")
# The window asks the facts a request states (never a derived category); the destination's
# urban-rural code is the chosen household's. Records (properties, insurance) are asked as a
# few rows of fields each, places as a region chosen by name.
WINDOW_FACTS = [n for n in INPUTS if n != "destination_urban_rural_code"]
RECORD_ROWS = 2
# 被投靠人是申请人的…: the GB/T 4761 codes that name kin the documents speak of.
SPONSOR_RELATIONS = [("", "未知")] + [
    (v, f"{v} {label}") for v, label in Relation.choices if relation_category(v) != "none"
]
RECORDS_KNOWN = [("", "未知"), ("none", "无"), ("listed", "有，见下列记录")]
URBAN_RURAL_CHOICES = [("", "未知"), *list(UrbanRuralCode.choices)]

# A service refusal's code → the form field it concerns (others go above the form).
FIELD_OF_CODE = {
    "unknown_channel": "channel",
    "channel_not_in_force": "channel",
    "bad_target": "target",
    "bad_household": "household",
    "household_required": "household",
    "materials_required": "materials",
    "future_date": "on",
    "invalid_name": "name",
    "already_open": "applicant",
    "bad_household_kind": "new_kind",
    "address_required": "new_address",
    "bad_region": "new_region",
    "outside_jurisdiction": "new_region",
}


class HouseholdAutocomplete(AccessLoggedAutocompleteJsonView):
    """The household search of the settlement forms: the household admin's search and area,
    each result shown with its address and head, which a bare 户号 does not tell. Each answer
    is access-logged, naming the heads it showed."""

    audit_fields = ["household_number", "address", "head_name"]

    def get_queryset(self):
        return households_with_head(households=super().get_queryset()).order_by("number")

    def audit_persons(self, objects) -> list[int]:
        return [obj.head_id for obj in objects if obj.head_id is not None]

    def serialize_result(self, obj, to_field_name):
        head = f"户主：{obj.head_name}" if obj.head_name else "尚无户主"
        return {
            "id": str(getattr(obj, to_field_name)),
            "text": f"{obj.number} {obj.address}（{obj.get_kind_display()}，{head}）",
        }


def household_label(household: Household) -> str:
    """A household as the forms show it once chosen: number, address and kind."""
    return f"{household.number} {household.address}（{household.get_kind_display()}）"


class HouseholdSelect(AutocompleteSelect):
    """An autocomplete of households through ``HouseholdAutocomplete``."""

    url_name = "%s:settlement_household_autocomplete"

    def __init__(self, admin_site, attrs=None):
        super().__init__(Application._meta.get_field("household"), admin_site, attrs=attrs)


def rule_sets_for(user, *, on: dt.date) -> list[RuleSet]:
    """The rule sets in force on ``on`` for the cities of the user's area (each city once)."""
    area = area_of(user)
    found: dict[str, RuleSet] = {}
    for rule_set in (
        RuleSet.objects.filter(effective_from__lte=on)
        .exclude(effective_to__lt=on)
        .order_by("city_code", "-effective_from")
    ):
        if rule_set.city_code in found:
            continue
        city = rule_set.city_code[:4]
        if area.everything or any(p.startswith(city) or city.startswith(p) for p in area.prefixes):
            found[rule_set.city_code] = rule_set
    return list(found.values())


def _region_field(label: str, help_text: str) -> forms.ModelChoiceField:
    field = forms.ModelChoiceField(
        label=label, queryset=Region.objects.all(), required=False, help_text=help_text
    )
    field.widget = AutocompleteSelect(
        Household._meta.get_field("region"), admin.site, attrs={"data-placeholder": "地名"}
    )
    field.widget.choices = field.choices
    return field


def _record_fields(name: str) -> dict[str, forms.Field]:
    """The rows of a record fact: whether there are any, then each record's fields."""
    spec = INPUTS[name]
    what = "本市房产记录" if name == "properties" else "社会保险参保记录"
    fields: dict[str, forms.Field] = {
        name: forms.ChoiceField(
            label=what,
            choices=RECORDS_KNOWN,
            required=False,
            help_text="按不动产登记或购房合同填写，每套一行"
            if name == "properties"
            else "按社保部门的参保证明填写，每个险种一行",
        )
    }
    for i in range(1, RECORD_ROWS + 1):
        for field, fspec in spec.fields:
            key = f"{name}_{i}_{field}"
            label = f"第{i}条：{fspec.zh}"
            if fspec.type == "enum":
                labels = VALUE_LABELS.get(field, {})
                fields[key] = forms.ChoiceField(
                    label=label,
                    choices=[("", "请选择")] + [(c, labels.get(c, c)) for c in fspec.choices],
                    required=False,
                )
            elif fspec.type == "bool":
                fields[key] = forms.ChoiceField(label=label, choices=BOOL_CHOICES, required=False)
            elif fspec.type == "int":
                fields[key] = forms.IntegerField(label=label, min_value=0, required=False)
            elif fspec.type == "number":
                fields[key] = forms.DecimalField(
                    label=label, min_value=0, required=False, decimal_places=2
                )
            else:
                fields[key] = _region_field(f"第{i}条：参保地", "输入乡镇街道或村（居）名称查找")
    return fields


def _fact_field(name: str, rule_set: RuleSet) -> forms.Field:
    spec = INPUTS[name]
    label = spec.zh
    if name in ("sponsor_relation_code", "serviceman_relation_code"):
        return forms.ChoiceField(
            label="被投靠人（或房主）是申请人的"
            if name == "sponsor_relation_code"
            else "现役军人是申请人的",
            choices=SPONSOR_RELATIONS,
            required=False,
            help_text="按户口簿、结婚证、出生证明等所载关系选择（国家标准家庭关系代码）",
        )
    if name == "residence_region_code":
        return _region_field(
            "实际居住地",
            "输入居住地所在的乡镇街道或村（居）名称查找；所在区域（如中心城区）按本市政策的"
            "区域表由区划自动得出，无需填写",
        )
    if name == "employment_region_code":
        return _region_field("就业地", "输入就业单位或经营场所所在的乡镇街道或村（居）名称查找")
    if name in ("hukou_urban_rural_code", "sponsor_hukou_urban_rural_code"):
        help_text = "按户口簿所载户口所在地的城乡划分代码选择"
        if name == "hukou_urban_rural_code":
            help_text += "；申请人已在本市登记户口的，按其户口所在地自动确定，无需选择"
        else:
            help_text += "；被投靠人已在本系统登记的，请在上栏选择此人，按其户口所在地自动确定"
        return forms.ChoiceField(
            label=label, choices=URBAN_RURAL_CHOICES, required=False, help_text=help_text
        )
    if spec.type == "bool":
        return forms.ChoiceField(label=label, choices=BOOL_CHOICES, required=False)
    if spec.type == "int":
        return forms.IntegerField(label=label, min_value=0, required=False)
    if spec.type == "number":
        return forms.DecimalField(label=label, min_value=0, required=False, decimal_places=2)
    if spec.type == "enum":
        labels = VALUE_LABELS.get(name, {})
        return forms.ChoiceField(
            label=label,
            choices=[("", "未知")] + [(c, labels.get(c, c)) for c in spec.choices],
            required=False,
        )
    return forms.CharField(label=label, required=False, max_length=60)


def channel_facts(rule_set: RuleSet) -> dict[str, list[str]]:
    """Which form facts each channel's conditions read (the form shows only those): a
    derived category is asked as the facts it comes from, the destination's urban-rural code
    is never asked (it is the chosen household's), and a channel about a sponsor asks who the
    sponsor is (``sponsor``: a person on file, whose hukou the register tells)."""
    out = {}
    for channel in rule_set.content["channels"]:
        names: list[str] = []
        _collect(channel["condition"], names)
        asked: list[str] = []
        for read in names:
            for name in DERIVED_FROM[read][1] if read in DERIVED_FROM else (read,):
                if name == "sponsor_hukou_urban_rural_code" and "sponsor" not in asked:
                    asked.append("sponsor")
                if name in WINDOW_FACTS and name not in asked:
                    asked.append(name)
        out[channel["code"]] = asked
    return out


def _collect(cond: dict, names: list[str]) -> None:
    for key in ("all", "any"):
        if key in cond:
            for part in cond[key]:
                _collect(part, names)
            return
    for name in (cond.get("fact"), cond.get("other")):
        if name and name not in names:
            names.append(name)


def _parse_id(value: str) -> str:
    try:
        return str(parse_citizen_id((value or "").replace(" ", "")))
    except InvalidCitizenId as exc:
        raise forms.ValidationError(exc.message_zh, code="invalid_citizen_id") from exc


class WindowForm(forms.Form):
    applicant = forms.ModelChoiceField(
        label="申请人",
        queryset=Person.objects.none(),
        required=False,
        help_text="输入公民身份号码或姓名查找本辖区已登记的人员",
    )
    citizen_id = forms.CharField(
        label="未登记人员的公民身份号码",
        required=False,
        max_length=20,
        help_text="申请人尚未在本系统登记时填写（与上栏二选一）",
    )
    name = forms.CharField(label="未登记人员的姓名", required=False, max_length=50)
    on = forms.DateField(
        label="申请日期",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"required": "请填写申请日期", "invalid": "日期格式应为 年-月-日"},
    )
    channel = forms.ChoiceField(label="落户渠道", error_messages={"required": "请选择落户渠道"})
    target = forms.ChoiceField(
        label="落户去向",
        choices=[("", "请选择"), *list(Target.choices)],
        error_messages={"required": "请选择落户去向"},
    )
    household = forms.ModelChoiceField(
        label="迁入户",
        queryset=households_open().none(),
        required=False,
        help_text="输入户号或住址查找；没有合适的户时在下面新立户（二选一）",
    )
    new_kind = forms.ChoiceField(
        label="新立户：户别",
        choices=[("", "不新立户"), *list(HouseholdKind.choices)],
        required=False,
    )
    new_address = forms.CharField(label="新立户：住址", required=False, max_length=200)
    new_region = forms.ModelChoiceField(
        label="新立户：所在村（居）",
        queryset=Region.objects.filter(level=RegionLevel.VILLAGE),
        required=False,
    )
    relation = forms.ChoiceField(
        label="申请人与户主关系",
        choices=RELATIONS,
        required=False,
        help_text="迁入已有户主的户时选择与该户主的关系；新立户时申请人为户主",
    )
    materials = forms.CharField(
        label="收到的申请材料（每行一项）",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="如：居民身份证、户口簿、房产证、结婚证",
    )

    def __init__(self, *args, user, rule_set: RuleSet, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.rule_set = rule_set
        site = admin.site
        self.fields["applicant"].queryset = persons_within(user)
        self.fields["applicant"].widget = AutocompleteSelect(
            Application._meta.get_field("person"),
            site,
            attrs={"data-placeholder": "身份号码或姓名"},
        )
        self.fields["applicant"].widget.choices = self.fields["applicant"].choices
        self.fields["household"].queryset = records_within(user, households_open())
        self.fields["household"].label_from_instance = household_label
        self.fields["household"].widget = HouseholdSelect(
            site, attrs={"data-placeholder": "户号或住址"}
        )
        self.fields["household"].widget.choices = self.fields["household"].choices
        self.fields["new_region"].widget = AutocompleteSelect(
            Household._meta.get_field("region"), site, attrs={"data-placeholder": "村（居）名称"}
        )
        self.fields["new_region"].widget.choices = self.fields["new_region"].choices
        self.fields["channel"].choices = [("", "请选择")] + [
            (c["code"], f"{c['name']}（{c['source']}）") for c in rule_set.content["channels"]
        ]
        self.fields[FACT_PREFIX + "sponsor"] = forms.ModelChoiceField(
            label="被投靠人（已在本系统登记的）",
            queryset=persons_within(user),
            required=False,
            help_text="输入公民身份号码或姓名查找；其户口所在地的城乡划分代码和是否本市户口按登记"
            "自动确定，无需选择",
        )
        self.fields[FACT_PREFIX + "sponsor"].widget = AutocompleteSelect(
            ApplicationMember._meta.get_field("person"),
            site,
            attrs={"data-placeholder": "身份号码或姓名"},
        )
        self.fields[FACT_PREFIX + "sponsor"].widget.choices = self.fields[
            FACT_PREFIX + "sponsor"
        ].choices
        self.fact_of = {FACT_PREFIX + "sponsor": "sponsor"}
        for name in WINDOW_FACTS:
            if INPUTS[name].type == "records":
                for key, field in _record_fields(name).items():
                    self.fields[FACT_PREFIX + key] = field
                    self.fact_of[FACT_PREFIX + key] = name
            else:
                self.fields[FACT_PREFIX + name] = _fact_field(name, rule_set)
                self.fact_of[FACT_PREFIX + name] = name
        if not self.is_bound:
            self.initial.setdefault("on", today())

    def fact_fields(self):
        """Each fact's fields with the fact they state (a record's rows share its name)."""
        return [(self.fact_of[key], self[key]) for key in self.fact_of]

    def _records(self, name: str, *, report: bool = False) -> list[dict] | None:
        """A record fact as typed: None when not known, [] for none, else the complete rows
        (``report``: an incomplete row is an error on its first blank field)."""
        data = self.cleaned_data
        known = data.get(FACT_PREFIX + name)
        if not known:
            return None
        if known == "none":
            return []
        records = []
        for i in range(1, RECORD_ROWS + 1):
            row = {}
            for field, fspec in INPUTS[name].fields:
                value = data.get(f"{FACT_PREFIX}{name}_{i}_{field}")
                if value in (None, ""):
                    continue
                if fspec.type == "bool":
                    value = value == "yes"
                elif fspec.type == "number":
                    value = int(value) if value == value.to_integral_value() else float(value)
                elif isinstance(value, Region):
                    value = value.pk
                row[field] = value
            if row:
                records.append((i, row))
        out = []
        for i, row in records:
            blank = [f for f, _ in INPUTS[name].fields if f not in row]
            if blank:
                key = f"{FACT_PREFIX}{name}_{i}_{blank[0]}"
                if report and key not in self.errors:
                    self.add_error(key, "请填写此项（或清空该条记录）")
                continue
            out.append(row)
        if report and not records:
            self.add_error(FACT_PREFIX + name, "选择“有”时请至少填写一条记录")
        return out

    def applicant_fields(self):
        return [self[n] for n in ("applicant", "citizen_id", "name", "on")]

    def household_fields(self):
        return [self[n] for n in ("household", "new_kind", "new_address", "new_region", "relation")]

    def clean_citizen_id(self):
        value = self.cleaned_data["citizen_id"].strip()
        return _parse_id(value) if value else ""

    def clean_on(self):
        on = self.cleaned_data["on"]
        if on > today():
            raise forms.ValidationError("申请日期不能晚于今天", code="future_date")
        return on

    def clean_materials(self):
        items = [line.strip() for line in self.cleaned_data["materials"].splitlines()]
        items = [i for i in items if i]
        if not items:
            raise forms.ValidationError("请填写收到的申请材料", code="materials_required")
        return items

    def clean(self):
        data = super().clean()
        person = data.get("applicant")
        if person is None and "citizen_id" not in self.errors:
            if not data.get("citizen_id"):
                self.add_error("applicant", "请选择申请人，或填写未登记人员的身份号码和姓名")
            elif not (data.get("name") or "").strip():
                self.add_error("name", "请填写姓名")
        elif person is not None and data.get("citizen_id"):
            self.add_error("citizen_id", "已选择申请人时不必再填写身份号码")
        new = any(data.get(k) for k in ("new_kind", "new_address", "new_region"))
        if data.get("household") is None and not new:
            self.add_error("household", "请选择迁入户，或在下面新立户")
        elif data.get("household") is not None and new:
            self.add_error("new_kind", "已选择迁入户时不能再新立户")
        elif new:
            for key, zh in (
                ("new_kind", "户别"),
                ("new_address", "住址"),
                ("new_region", "村（居）"),
            ):
                if not data.get(key):
                    self.add_error(key, f"新立户须填写{zh}")
            region = data.get("new_region")
            if region is not None:
                try:
                    region_required_within(self.user, region, field_zh="所在区划")
                except DomainError as exc:
                    self.add_error("new_region", exc.message_zh)
        family = (
            data.get("household").kind == HouseholdKind.FAMILY
            if data.get("household") is not None
            else data.get("new_kind") in ("", None, HouseholdKind.FAMILY)
        )
        if family and not data.get("relation"):
            self.add_error("relation", "请选择申请人与户主的关系")
        for name in WINDOW_FACTS:
            if INPUTS[name].type == "records":
                self._records(name, report=True)
        return data

    def applicant_id_name(self) -> tuple[str, str]:
        person = self.cleaned_data.get("applicant")
        if person is not None:
            return person.citizen_id, person.name
        return self.cleaned_data.get("citizen_id", ""), self.cleaned_data.get("name", "")

    def observed(self) -> dict:
        """What the register says of the choices made: the urban-rural code of the chosen (or
        new) destination household's region and, for an applicant whose hukou is in the
        city, of the hukou region (on the application date)."""
        data = self.cleaned_data
        on = data.get("on") or today()
        out = {}
        household = data.get("household")
        region = household.region_id if household is not None else None
        if region is None and data.get("new_region") is not None:
            region = data["new_region"].pk
        code = region_urban_rural_code(region, on=on)
        if code:
            out["destination_urban_rural_code"] = code
        person = data.get("applicant")
        hukou = person.hukou_region_id if person is not None else None
        if hukou and hukou.startswith(self.rule_set.city_code[:4]):
            code = region_urban_rural_code(hukou, on=on)
            if code:
                out["hukou_urban_rural_code"] = code
        sponsor = data.get(FACT_PREFIX + "sponsor")
        if sponsor is not None and sponsor.is_registered:
            out["sponsor_hukou_in_city"] = sponsor.hukou_region_id.startswith(
                self.rule_set.city_code[:4]
            )
            code = region_urban_rural_code(sponsor.hukou_region_id, on=on)
            if code:
                out["sponsor_hukou_urban_rural_code"] = code
        return out

    def evidence(self) -> dict:
        """The typed facts as the fact catalogue's types (blank = not known), with what the
        register says of the destination and the hukou in place of anything typed."""
        out = {}
        for name in WINDOW_FACTS:
            spec = INPUTS[name]
            if spec.type == "records":
                records = self._records(name)
                if records is not None:
                    out[name] = records
                continue
            value = self.cleaned_data.get(FACT_PREFIX + name)
            if value in (None, ""):
                continue
            if isinstance(value, Region):
                value = value.pk
            elif spec.type == "bool":
                value = value == "yes"
            elif spec.type == "number":
                value = int(value) if value == value.to_integral_value() else float(value)
            elif isinstance(value, Decimal):
                value = float(value)
            out[name] = value
        out.update(self.observed())
        return out


class MemberForm(forms.Form):
    person = forms.ModelChoiceField(
        label="随迁人员", queryset=Person.objects.none(), required=False
    )
    citizen_id = forms.CharField(label="或未登记人员的身份号码", required=False, max_length=20)
    name = forms.CharField(label="姓名", required=False, max_length=50)
    kind = forms.ChoiceField(
        label="随迁类别", choices=[("", "请选择"), *list(MEMBER_KINDS.items())], required=False
    )
    relation = forms.ChoiceField(label="与户主关系", choices=MEMBER_RELATIONS, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = persons_within(user)
        self.fields["person"].widget = AutocompleteSelect(
            ApplicationMember._meta.get_field("person"),
            admin.site,
            attrs={"data-placeholder": "身份号码或姓名"},
        )
        self.fields["person"].widget.choices = self.fields["person"].choices

    def clean_citizen_id(self):
        value = self.cleaned_data["citizen_id"].strip()
        return _parse_id(value) if value else ""

    def clean(self):
        data = super().clean()
        person = data.get("person")
        typed = data.get("citizen_id")
        if person is None and not typed and "citizen_id" not in self.errors:
            return data  # an empty row
        if person is None and typed and not (data.get("name") or "").strip():
            self.add_error("name", "请填写姓名")
        if not data.get("kind"):
            self.add_error("kind", "请选择随迁类别")
        if not data.get("relation"):
            self.add_error("relation", "请选择与户主关系")
        return data

    def member(self) -> dict | None:
        data = self.cleaned_data
        person = data.get("person")
        if person is None and not data.get("citizen_id"):
            return None
        return {
            "citizen_id": person.citizen_id if person else data["citizen_id"],
            "name": person.name if person else data["name"].strip(),
            "kind": data["kind"],
            "relation": data["relation"],
        }


MemberFormSet = forms.formset_factory(MemberForm, extra=3, max_num=10, validate_max=True)


def verdict_detail(verdict: dict, *, zones: dict | None, table_id: str | None = None) -> str:
    """One channel's verdict: its name, source and outcome, why, and a table of its conditions
    with the fact and value each was judged on."""
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                leaf["zh"],
                MARKS[leaf["status"]],
                fact_label(leaf["fact"]),
                fact_value_label(leaf["fact"], leaf["value"], zones=zones),
            )
            for leaf in leaves(verdict["conditions"])
        ),
    )
    return format_html(
        "<p><strong>{}（{}）：{}</strong></p>{}<table{}><thead><tr><th>条件</th><th>结论</th>"
        "<th>事实</th><th>取值</th></tr></thead><tbody>{}</tbody></table>",
        verdict["name"],
        verdict["source"],
        MARKS[verdict["status"]],
        verdict_explained(verdict),
        format_html(' id="{}"', table_id) if table_id else "",
        rows,
    )


def eligibility_fragment(*, rule_set: RuleSet, verdicts: list[dict], chosen: str) -> str:
    """Every channel's verdict on the facts, the chosen channel's conditions in a table."""
    zones = rule_set.content.get("zones", {})
    summary = format_html_join(
        "",
        '<li class="{}">{}：{}</li>',
        (
            (
                "chosen" if v["code"] == chosen else "",
                v["name"],
                MARKS[v["status"]],
            )
            for v in verdicts
        ),
    )
    detail = ""
    for v in verdicts:
        if v["code"] == chosen:
            detail = verdict_detail(v, zones=zones, table_id="eligibility-table")
    qualifies = [v["name"] for v in verdicts if v["status"] == MET]
    return format_html(
        '{}<p>依据：{}</p><p>{}</p><ul class="channel-verdicts">{}</ul>',
        detail or format_html("<p>{}</p>", "请选择落户渠道查看逐项条件"),
        rule_set_label(rule_set),
        "条件全部满足的渠道：" + ("、".join(qualifies) if qualifies else "暂无"),
        summary,
    )


def verdict_explained(verdict: dict) -> str:
    """The clause's words, what fails (an any-group as one line of alternatives), the facts
    still needed, and popbase's notes marked as such."""
    parts = []
    if verdict.get("clause_text"):
        parts.append(
            format_html('<p class="clause-text">文件原文：“{}”</p>', verdict["clause_text"])
        )
    if verdict.get("unmet"):
        parts.append(format_html('<p class="unmet">不满足：{}</p>', "；".join(verdict["unmet"])))
    if verdict.get("missing"):
        # what to find out: the facts to state (a derived category as its records or codes)
        labels = verdict.get("ask_zh") or [fact_label(n) for n in verdict["missing"]]
        parts.append(format_html('<p class="needed">还需查明：{}</p>', "；".join(labels)))
    for c in verdict.get("placeholders", []):
        parts.append(
            format_html(
                '<p class="placeholder">{} = {}：popbase 占位取值，非文件规定</p>',
                c["zh"],
                c["value"],
            )
        )
    for note in verdict.get("notes", []):
        parts.append(
            format_html('<p class="note">popbase 的理解（非文件原文）：{}</p>', note["zh"])
        )
    return format_html_join("", "{}", ((p,) for p in parts))


def rule_set_label(rule_set: RuleSet) -> str:
    """How every screen names a rule set; a demonstration one says 演示."""
    return str(rule_set)
