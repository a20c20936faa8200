"""Admin for registration officers: persons and regions (Chinese UI)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from population import jurisdiction, services
from population.admin_story import person_sections
from population.admin_utils import (
    LargeTableAdmin,
    PageAction,
    ReadOnlyAdminMixin,
    ServiceSaveAdminMixin,
    person_page_action_hook,
    person_page_actions,
)
from population.audit import (
    InvalidCursor,
    access_log_admin_read,
    access_log_record,
    person_reads,
    read_cursor_parse,
)
from population.audit_labels import KNOWN_CHANNELS, channel_label, field_label, purpose_label
from population.errors import DomainError
from population.identity import InvalidCitizenId, mask_citizen_id, parse_citizen_id
from population.jurisdiction import JurisdictionAdminMixin, ListReadAuditMixin, area_of
from population.models import (
    AccessLog,
    AccessLogSeal,
    AuditCheckpoint,
    AuditVerification,
    BreakGlassGrant,
    CitizenIdCorrection,
    CountyCode,
    OfficerRegion,
    Person,
    PersonStatus,
    Region,
    RegionLevel,
    RegionUrbanRural,
)
from population.search import SearchError, looks_like_id, person_search
from population.selectors import person_get_by_citizen_id

FULL_ID_PERMISSION = "population.view_full_citizen_id"


def can_see_full_id(user) -> bool:
    return user.has_perm(FULL_ID_PERMISSION)


class CountyFilter(admin.SimpleListFilter):
    title = "户籍地（区县）"
    parameter_name = "county"

    def lookups(self, request, model_admin):
        area = area_of(request.user)
        return [
            (r.code[:6], r.name)
            for r in Region.objects.filter(level=RegionLevel.COUNTY).only("code", "name")
            if area.everything
            or any(p.startswith(r.code[:6]) or r.code.startswith(p) for p in area.prefixes)
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit() and len(value) == 6:
            return queryset.filter(hukou_region__code__startswith=value)
        return queryset


class RegistrationFilter(admin.SimpleListFilter):
    title = "户籍类别"
    parameter_name = "registered"

    def lookups(self, request, model_admin):
        return [("yes", "本市户籍"), ("no", "非本市户籍")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(hukou_region__isnull=False)
        if self.value() == "no":
            return queryset.filter(hukou_region__isnull=True)
        return queryset


class PersonForm(forms.ModelForm):
    reason = forms.CharField(
        label="变更原因",
        max_length=200,
        help_text="记入变更历史，例如“出生登记”或“更正姓名”",
    )

    class Meta:
        model = Person
        fields = ["citizen_id", "name", "ethnicity", "hukou_region", "residence_region"]
        help_texts = {
            "citizen_id": "18位公民身份号码；可输入15位旧号码或全角数字，保存时自动规范化",
        }

    def clean_citizen_id(self) -> str:
        try:
            parsed = parse_citizen_id(self.cleaned_data["citizen_id"])
        except InvalidCitizenId as exc:
            raise forms.ValidationError(str(exc), code=exc.part) from exc
        if Person.objects.filter(citizen_id=str(parsed)).exists():
            raise forms.ValidationError(
                f"公民身份号码{parsed.masked}已登记 / "
                f"citizen ID {parsed.masked} is already recorded",
                code="duplicate",
            )
        self.citizen_id_warnings = parsed.warnings
        return str(parsed)

    jurisdiction_user = None  # set by PersonAdmin.get_form

    def clean(self):
        cleaned = super().clean()
        labels = {"hukou_region": "户籍地", "residence_region": "实际居住地"}
        for name, label in labels.items():
            if name in self.changed_data or (self.instance.pk is None and cleaned.get(name)):
                try:
                    jurisdiction.region_required_within(
                        self.jurisdiction_user, cleaned.get(name), field_zh=label
                    )
                except DomainError as exc:
                    self.add_error(name, exc.message_zh)
        return cleaned


BREAK_GLASS_PERMISSION = "population.add_breakglassgrant"


class BreakGlassForm(forms.Form):
    citizen_id = forms.CharField(
        label="公民身份号码", max_length=40, help_text="辖区外人员的18位号码"
    )
    reason = forms.CharField(
        label="事由",
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="例如：窗口为外辖区群众办理迁入，须核对其户籍信息。事由记入日志，主管可查",
    )

    def clean_citizen_id(self) -> str:
        try:
            return str(parse_citizen_id(self.cleaned_data["citizen_id"]))
        except InvalidCitizenId as exc:
            raise forms.ValidationError(str(exc), code=exc.part) from exc


@admin.register(Person)
class PersonAdmin(
    ServiceSaveAdminMixin, ListReadAuditMixin, JurisdictionAdminMixin, LargeTableAdmin
):
    form = PersonForm
    change_form_template = "admin/population/person/change_form.html"
    list_display = ["masked_id", "name", "sex", "birth_date", "status", "hukou_region_name"]
    list_filter = ["status", RegistrationFilter, CountyFilter, "sex"]
    list_select_related = ["hukou_region"]
    list_per_page = 50
    search_fields = ["name"]  # the search itself is get_search_results below
    search_help_text = (
        "输入完整公民身份号码（18位或15位，可含空格、全角数字）精确查找；或输入姓名（前缀，"
        "简繁体均可）、姓名加出生日期（如“张三 1990-01-01”）、姓名全拼（可加空格）"
    )
    autocomplete_fields = ["hukou_region", "residence_region"]
    ordering = ["-id"]

    @admin.display(description="公民身份号码", ordering="citizen_id")
    def masked_id(self, obj: Person) -> str:
        return mask_citizen_id(obj.citizen_id)

    @admin.display(description="户籍地")
    def hukou_region_name(self, obj: Person) -> str:
        return obj.hukou_region.name if obj.hukou_region else "非本市户籍"

    @admin.display(description="公民身份号码")
    def shown_citizen_id(self, obj: Person) -> str:
        return obj.citizen_id

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["citizen_id", "name", "ethnicity", "hukou_region", "residence_region", "reason"]
        id_field = "shown_citizen_id" if can_see_full_id(request.user) else "masked_id"
        return [
            id_field,
            "name",
            "sex",
            "birth_date",
            "ethnicity",
            "status",
            "hukou_region",
            "residence_region",
            "created_at",
            "updated_at",
            # the reason is asked only when something can be saved (not on read-only records)
            *(["reason"] if self.has_change_permission(request, obj) else []),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Identity and hukou change only through registration events: 变更更正登记 (approved by
        # a supervisor) for name, number and ethnicity, moves for the 户籍地. Only the actual
        # residence is kept up to date here.
        readonly = ["shown_citizen_id", "masked_id", "name", "sex", "birth_date", "ethnicity"]
        readonly += ["status", "hukou_region", "created_at", "updated_at"]
        if not self.has_change_permission(request, obj):
            readonly += ["residence_region"]
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["fields"] = ["residence_region"]
        form = super().get_form(request, obj, change=change, **kwargs)
        form.jurisdiction_user = request.user
        return form

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_break_glass": request.user.has_perm(BREAK_GLASS_PERMISSION),
        }
        return self._changelist_view(request, extra_context)

    def _changelist_view(self, request, extra_context=None):
        """An exact citizen-ID search opens the record directly.

        The number then stays out of the list page, its links, later URLs and Referer headers:
        the list and the record's address carry only the surrogate key.
        """
        term = request.GET.get("q", "")
        if looks_like_id(term):
            try:
                number = str(parse_citizen_id("".join(term.split())))
            except InvalidCitizenId:
                pass  # the list explains the error (get_search_results)
            else:
                found, _ = self.get_search_results(request, self.get_queryset(request), number)
                matches = list(found.values_list("pk", flat=True)[:2])
                if len(matches) == 1:
                    return HttpResponseRedirect(
                        reverse("admin:population_person_change", args=[matches[0]])
                    )
                # The same words whether the number is unknown or outside the user's area: a
                # search does not tell where a person lives; breaking the glass does, logged.
                messages.info(
                    request,
                    f"在您的辖区内未找到公民身份号码为{mask_citizen_id(number)}的人员；"
                    "如确需办理辖区外人员的业务，请使用“跨辖区查询”并说明事由",
                )
                return HttpResponseRedirect(reverse("admin:population_person_changelist"))
        return super().changelist_view(request, extra_context)

    list_audit_channel = "admin.person_list"

    def list_audit_person_ids(self, rows) -> list[int]:
        return [p.pk for p in rows]

    def get_urls(self):
        return [
            path(
                "break-glass/",
                self.admin_site.admin_view(self.break_glass_view),
                name="population_person_break_glass",
            ),
            *super().get_urls(),
        ]

    def break_glass_view(self, request):
        """跨辖区查询: reach one person outside one's area for a while, with a stated reason."""
        if not request.user.has_perm(BREAK_GLASS_PERMISSION):
            raise PermissionDenied
        form = BreakGlassForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            number = form.cleaned_data["citizen_id"]
            corrected = CitizenIdCorrection.objects.filter(old_citizen_id=number).values(
                "person_id"
            )
            person = Person.objects.filter(Q(citizen_id=number) | Q(pk__in=corrected)).first()
            if person is None:
                # A failed attempt is logged too: probing numbers leaves a trail.
                access_log_record(
                    user=request.user,
                    channel=jurisdiction.BREAK_GLASS_CHANNEL,
                    purpose=f"跨辖区查询（未找到{mask_citizen_id(number)}）："
                    f"{form.cleaned_data['reason']}"[:200],
                    person_ids=[],
                    fields=[],
                    client=request.META.get("REMOTE_ADDR", ""),
                )
                form.add_error("citizen_id", "未找到该公民身份号码的人员")
            elif jurisdiction.person_within(request.user, person):
                messages.info(request, "此人在您的辖区内（或已有有效授权），无须跨辖区查询")
                return HttpResponseRedirect(
                    reverse("admin:population_person_change", args=[person.pk])
                )
            else:
                try:
                    grant = jurisdiction.break_glass_grant(
                        user=request.user,
                        person=person,
                        reason=form.cleaned_data["reason"],
                        client=request.META.get("REMOTE_ADDR", ""),
                    )
                except DomainError as exc:
                    form.add_error("reason", exc.message_zh)
                else:
                    until = timezone.localtime(grant.expires_at)
                    messages.warning(
                        request,
                        f"已授权查阅此人至{until:%H:%M}；授权与每次查阅均已记录，主管可查",
                    )
                    return HttpResponseRedirect(
                        reverse("admin:population_person_change", args=[person.pk])
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": "跨辖区查询",
            "form": form,
            "opts": self.opts,
            "hours": jurisdiction.break_glass_hours(),
        }
        return TemplateResponse(request, "admin/population/person/break_glass.html", context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            person = self.get_object(request, object_id)
            if person is not None:
                extra_context["page_actions"] = person_page_actions(
                    request, person.pk, active=person.status == PersonStatus.ACTIVE
                )
                extra_context["person_sections"] = person_sections(request, person)
        # A refusal after validation (a duplicate recorded a moment earlier by someone else)
        # comes back to the form with the reason (ServiceSaveAdminMixin).
        return super().changeform_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        """历史: the person's registration events and record changes, not Django's change log."""
        person = self.get_object(request, object_id)
        if person is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, person):
            raise PermissionDenied
        sections = person_sections(request, person)
        fields = ["name", "masked_citizen_id", "registration_events", "record_changes"]
        access_log_admin_read(
            request, channel="admin.person_history", person_ids=[person.pk], fields=fields
        )
        jurisdiction.break_glass_accesses(request, person_ids=[person.pk], fields=fields)
        context = {
            **self.admin_site.each_context(request),
            "title": f"变更历史：{person}",
            "subtitle": None,
            "object": person,
            "original": person,
            "opts": self.opts,
            "person_sections": sections,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/population/person/history.html", context)

    def get_search_results(self, request, queryset, search_term):
        """By citizen ID as typed, name plus birth date, pinyin or name (population.search);
        Django's autocomplete of every ``autocomplete_fields`` on Person comes here too."""
        autocomplete = request.path.endswith("/autocomplete/")
        try:
            return person_search(queryset, search_term, prefix_ids=autocomplete), False
        except SearchError as exc:
            if not autocomplete:
                messages.warning(request, str(exc))
            return queryset.none(), False

    def refusal_message(self, exc: DomainError) -> str:
        return str(exc)  # both languages

    def save_by_service(self, request, obj, form, change):
        reason = form.cleaned_data["reason"]
        if change:
            return services.person_update(
                person=obj,
                actor=request.user,
                reason=reason,
                **{f: form.cleaned_data[f] for f in form.changed_data if f != "reason"},
            )
        return services.person_create(
            citizen_id=form.cleaned_data["citizen_id"],
            name=form.cleaned_data["name"],
            ethnicity=form.cleaned_data["ethnicity"],
            hukou_region=form.cleaned_data["hukou_region"],
            residence_region=form.cleaned_data["residence_region"],
            actor=request.user,
            reason=reason,
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        for warning in getattr(form, "citizen_id_warnings", ()):
            messages.warning(request, warning)

    def has_change_permission(self, request, obj=None):
        # Deceased and cancelled persons are closed records that person_update refuses: show
        # them read-only instead of letting the save fail with a server error.
        if obj is not None and obj.status != PersonStatus.ACTIVE:
            return False
        return super().has_change_permission(request, obj)


@admin.register(Region)
class RegionAdmin(LargeTableAdmin):
    list_display = ["code", "name", "level", "parent", "is_synthetic"]
    list_filter = ["level", "is_synthetic"]
    search_fields = ["code", "name"]
    search_help_text = "输入区划代码或名称"
    list_select_related = ["parent"]
    raw_id_fields = ["parent"]


@admin.register(RegionUrbanRural)
class RegionUrbanRuralAdmin(admin.ModelAdmin):
    list_display = ["region", "year", "code"]
    list_filter = ["year", "code"]
    search_fields = ["region__code", "region__name"]
    raw_id_fields = ["region"]
    list_select_related = ["region"]


@admin.register(CountyCode)
class CountyCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "from_year", "to_year", "successor_code"]
    search_fields = ["code", "name"]


@admin.register(CitizenIdCorrection)
class CitizenIdCorrectionAdmin(ReadOnlyAdminMixin, JurisdictionAdminMixin, admin.ModelAdmin):
    list_display = ["person", "masked_old", "masked_new", "reason", "officer", "corrected_at"]
    list_select_related = ["person", "officer"]
    raw_id_fields = ["person"]

    @admin.display(description="原号码")
    def masked_old(self, obj):
        return mask_citizen_id(obj.old_citizen_id)

    @admin.display(description="新号码")
    def masked_new(self, obj):
        return mask_citizen_id(obj.new_citizen_id)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if can_see_full_id(request.user):
            return fields
        masked = {"old_citizen_id": "masked_old", "new_citizen_id": "masked_new"}
        return [masked.get(f, f) for f in fields]


class AccessChannelFilter(admin.SimpleListFilter):
    """The channels in Chinese (the log stores their codes)."""

    title = "渠道"
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        # The known channels (a DISTINCT over the whole log would scan it on every page).
        return [(c, channel_label(c)) for c in KNOWN_CHANNELS]

    def queryset(self, request, queryset):
        return queryset.filter(channel=self.value()) if self.value() else queryset


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """查阅日志: read-only; who read whose data, which fields, for what purpose."""

    list_display = ["at", "username", "channel_display", "purpose_shown", "person_count", "client"]
    list_filter = [AccessChannelFilter]
    search_fields = ["=username"]
    search_help_text = "输入用户名精确查找"
    date_hierarchy = "at"

    @admin.display(description="人数")
    def person_count(self, obj: AccessLog) -> int:
        return len(obj.person_ids)

    @admin.display(description="渠道", ordering="channel")
    def channel_display(self, obj: AccessLog) -> str:
        return channel_label(obj.channel)

    @admin.display(description="渠道")
    def channel_label_shown(self, obj: AccessLog) -> str:
        return channel_label(obj.channel)

    @admin.display(description="用途")
    def purpose_shown(self, obj: AccessLog) -> str:
        return purpose_label(obj.purpose)

    @admin.display(description="读取字段")
    def fields_shown(self, obj: AccessLog) -> str:
        return "、".join(field_label(f) for f in obj.fields) or "无"

    @admin.display(description="涉及人员")
    def persons_shown(self, obj: AccessLog) -> str:
        return f"{len(obj.person_ids)}人"

    def _link(self, obj: AccessLog) -> AccessLogSeal | None:
        if not hasattr(obj, "_popbase_link"):
            obj._popbase_link = AccessLogSeal.objects.filter(log_id=obj.pk).first()
        return obj._popbase_link

    @admin.display(description="封存状态")
    def seal_state(self, obj: AccessLog) -> str:
        link = self._link(obj)
        return f"已封存（链序号{link.seq}）" if link else "待封存"

    @admin.display(description="本记录哈希")
    def row_hash(self, obj: AccessLog) -> str:
        link = self._link(obj)
        return link.row_hash if link else "—"

    def get_fields(self, request, obj=None):
        return [
            "at", "username", "channel_label_shown", "purpose_shown", "fields_shown",
            "persons_shown", "client", "seal_state", "row_hash",
        ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_urls(self):
        return [
            path(
                "person/",
                self.admin_site.admin_view(self.person_search_view),
                name="population_accesslog_person_search",
            ),
            path(
                "person/<int:person_id>/",
                self.admin_site.admin_view(self.person_reads_view),
                name="population_accesslog_person_reads",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "person_search_url": reverse("admin:population_accesslog_person_search"),
        }
        return super().changelist_view(request, extra_context)

    def person_search_view(self, request):
        """查询记录: an auditor types a citizen ID and gets that person's reads."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PersonReadsSearchForm(request.GET or None)
        if request.GET and form.is_valid():
            number = form.cleaned_data["citizen_id"]
            person = person_get_by_citizen_id(citizen_id=number)
            if person is not None and jurisdiction.person_within(request.user, person):
                return HttpResponseRedirect(
                    reverse("admin:population_accesslog_person_reads", args=[person.pk])
                )
            # The same words for unknown and outside the area: a search does not tell where
            # someone lives.
            form.add_error(
                "citizen_id", f"在您的辖区内未找到公民身份号码为{mask_citizen_id(number)}的人员"
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "按人员查询查阅记录",
            "form": form,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/population/accesslog/person_search.html", context)

    def person_reads_view(self, request, person_id: int):
        """Who read this person: newest first, from the per-person index, 50 a page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        person = jurisdiction.persons_within(request.user).filter(pk=person_id).first()
        if person is None:
            messages.warning(request, "在您的辖区内未找到该人员")
            return HttpResponseRedirect(reverse("admin:population_accesslog_person_search"))
        after = None
        raw = request.GET.get("after", "")
        if raw:
            try:
                after = read_cursor_parse(raw)
            except InvalidCursor:
                messages.warning(request, "翻页位置无效，已回到第一页")
        reads = person_reads(person.pk, after=after, limit=PERSON_READS_PAGE + 1)
        more = len(reads) > PERSON_READS_PAGE
        reads = reads[:PERSON_READS_PAGE]
        shown = ["name", "masked_citizen_id", "reads"]
        access_log_admin_read(
            request, channel="admin.person_reads", person_ids=[person.pk], fields=shown
        )
        rows = [
            {
                "at": timezone.localtime(r.at),
                "who": r.username or "（系统）",
                "channel": channel_label(r.channel),
                "purpose": purpose_label(r.purpose),
                "fields": "、".join(field_label(f) for f in r.fields) or "无",
                "client": r.client,
                "url": reverse("admin:population_accesslog_change", args=[r.log_id]),
            }
            for r in reads
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"查询记录：{person.name}（{mask_citizen_id(person.citizen_id)}）",
            "person": person,
            "rows": rows,
            "first_page": after is None,
            "next_url": f"?after={reads[-1].cursor}" if more else "",
            "opts": self.opts,
            "person_url": reverse("admin:population_person_change", args=[person.pk])
            if request.user.has_perm("population.view_person")
            else "",
        }
        return TemplateResponse(request, "admin/population/accesslog/person_reads.html", context)


PERSON_READS_PAGE = 50


class PersonReadsSearchForm(forms.Form):
    citizen_id = forms.CharField(
        label="公民身份号码",
        max_length=40,
        help_text="18位或15位号码，可含空格；只查您辖区内的人员",
    )

    def clean_citizen_id(self) -> str:
        try:
            return str(parse_citizen_id("".join(self.cleaned_data["citizen_id"].split())))
        except InvalidCitizenId as exc:
            raise forms.ValidationError(exc.message_zh, code=exc.part) from exc


person_page_action_hook.register(
    PageAction(
        label="查询记录",
        url_name="admin:population_accesslog_person_reads",
        permission="population.view_accesslog",
        active_only=False,
    )
)


ALGORITHM_LABELS = {"hmac-sha256": "HMAC-SHA-256", "hmac-sm3": "HMAC-SM3（国密）"}
VERIFY_SOURCES = {"beat": "每夜定时核验", "command": "命令行核验"}


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """审计核验: each run of audit_verify (nightly job or command) and the first break it found;
    read-only, for auditors and supervisors."""

    list_display = [
        "started_at", "intact", "finding_label", "seq", "detail", "rows_checked",
        "checkpoints_checked", "source_label",
    ]  # fmt: skip
    list_filter = ["intact", "finding"]
    date_hierarchy = "started_at"
    ordering = ["-started_at"]
    fields = [
        "started_at", "finished_at", "date_from", "date_to", "intact", "finding_label", "seq",
        "detail", "rows_checked", "checkpoints_checked", "source_label",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="问题")
    def finding_label(self, obj: AuditVerification) -> str:
        return obj.get_finding_display() or "无"

    @admin.display(description="发起方式")
    def source_label(self, obj: AuditVerification) -> str:
        return VERIFY_SOURCES.get(obj.source, "其他")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """审计检查点: the signed chain heads, one per sealed batch; read-only."""

    list_display = ["sealed_at", "first_seq", "last_seq", "count", "algorithm_label"]
    date_hierarchy = "sealed_at"
    ordering = ["-last_seq"]
    fields = [
        "sealed_at", "first_seq", "last_seq", "count", "algorithm_label", "head_hash", "key_id",
        "signature",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="算法")
    def algorithm_label(self, obj: AuditCheckpoint) -> str:
        return ALGORITHM_LABELS.get(obj.algorithm, obj.algorithm)


@admin.register(OfficerRegion)
class OfficerRegionAdmin(admin.ModelAdmin):
    """辖区分配: which regions each staff member works in (see docs/architecture.md)."""

    list_display = ["user", "region", "region_level"]
    list_select_related = ["user", "region"]
    list_filter = ["region__level"]
    search_fields = ["user__username", "region__code", "region__name"]
    autocomplete_fields = ["region"]
    raw_id_fields = ["user"]

    @admin.display(description="区划级别")
    def region_level(self, obj: OfficerRegion) -> str:
        return obj.region.get_level_display()


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(ReadOnlyAdminMixin, JurisdictionAdminMixin, admin.ModelAdmin):
    """跨辖区查询授权: for supervisors; who reached whom outside their area, why, how often.

    A supervisor sees the grants on persons inside their area and the grants their own area's
    staff obtained elsewhere.
    """

    list_display = ["granted_at", "user", "person", "reason", "expires_at", "active", "accesses"]
    list_select_related = ["user", "person"]
    search_fields = ["=user__username"]
    search_help_text = "输入用户名精确查找"
    date_hierarchy = "granted_at"
    ordering = ["-granted_at"]
    fields = ["user", "person", "reason", "granted_at", "expires_at", "access_list"]
    readonly_fields = fields

    def _accesses(self, obj: BreakGlassGrant):
        return AccessLog.objects.filter(
            channel=jurisdiction.BREAK_GLASS_CHANNEL,
            user_id=obj.user_id,
            purpose__startswith=f"跨辖区查询授权#{obj.pk}：",
        ).order_by("at")

    @admin.display(description="有效", boolean=True)
    def active(self, obj: BreakGlassGrant) -> bool:
        return obj.expires_at > timezone.now()

    @admin.display(description="查阅次数")
    def accesses(self, obj: BreakGlassGrant) -> int:
        return self._accesses(obj).count()

    @admin.display(description="授权与查阅记录")
    def access_list(self, obj: BreakGlassGrant) -> str:
        rows = [
            f"{timezone.localtime(a.at):%Y-%m-%d %H:%M:%S} {','.join(a.fields)}"
            for a in self._accesses(obj)
        ]
        return "；".join(rows) or "无"


from population.beat_admin import beat_admins_restrict  # noqa: E402

# django_celery_beat precedes population in INSTALLED_APPS, so its admins are registered here.
beat_admins_restrict()


# django-otp's own device admins are English and list every user's devices to any superuser; a
# lost phone is handled with `manage.py otp_reset USER` (population/two_factor.py) instead.
def _unregister_otp_device_admins() -> None:
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for model in (TOTPDevice, StaticDevice):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_otp_device_admins()
