"""Admin for department API clients: keys are issued, rotated and revoked through services and
shown exactly once, in the message after the action."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKey

from population.errors import DomainError
from population.sharing import services
from population.sharing.facts import derived_fact_hook
from population.sharing.models import ApiClient, ApiKey
from population.sharing.scopes import (
    PersonField,
    Purpose,
    change_kind_hook,
    endpoint_hook,
    hook_choices,
)

# The library's own key table is unused: sharing.ApiKey extends its base with a client.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)

SCOPE_FIELDS = [
    "name",
    "endpoints",
    "person_fields",
    "purposes",
    "change_kinds",
    "facts",
    "region_prefixes",
    "full_citizen_id",
    "rate_limit_per_minute",
    "is_active",
]


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    # The key library's own field names are English: shown through Chinese columns.
    fields = ["key_prefix", "key_name", "key_created", "key_expires", "key_revoked"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "密钥（仅存前缀和哈希）"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="前缀")
    def key_prefix(self, obj):
        return obj.prefix

    @admin.display(description="名称")
    def key_name(self, obj):
        return obj.name

    @admin.display(description="创建时间")
    def key_created(self, obj):
        return obj.created

    @admin.display(description="到期时间")
    def key_expires(self, obj):
        return obj.expiry_date or "不过期"

    @admin.display(description="已吊销", boolean=True)
    def key_revoked(self, obj):
        return obj.revoked


def _show_key(request, client: ApiClient, secret: str) -> None:
    messages.warning(
        request,
        f"{client.code} 的新密钥（只显示这一次，请立即交给部门并妥善保管）：{secret}",
    )


class CodesField(forms.MultipleChoiceField):
    """A client's list of codes as ticked boxes under Chinese labels. The choices are read when
    the form is drawn, so an app registering an endpoint or change kind shows up without a
    migration; a code outside them is refused."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value):
        return [v for v in super().to_python(value) if v]


class ApiClientForm(forms.ModelForm):
    endpoints = CodesField(label="可用接口", choices=lambda: hook_choices(endpoint_hook))
    person_fields = CodesField(label="可读字段", choices=PersonField.choices)
    purposes = CodesField(label="可声明用途", choices=Purpose.choices)
    change_kinds = CodesField(label="订阅变更类型", choices=lambda: hook_choices(change_kind_hook))
    facts = CodesField(
        label="可核验事实", choices=lambda: [(f.name, f.label_zh) for f in derived_fact_hook]
    )

    class Meta:
        model = ApiClient
        fields = ["code", "department", *SCOPE_FIELDS]

    def clean(self):
        data = super().clean()
        try:
            services.api_client_scope_clean(**{f: data[f] for f in SCOPE_FIELDS if f in data})
        except DomainError as exc:
            raise forms.ValidationError(exc.message_zh, code=exc.code) from exc
        return data


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """接口客户端：部门系统的授权范围与密钥。"""

    list_display = ["code", "name", "department", "rate_limit_per_minute", "is_active"]
    list_filter = ["department", "is_active"]
    search_fields = ["code", "name"]
    inlines = [ApiKeyInline]
    form = ApiClientForm
    actions = ["issue_key", "rotate_keys", "revoke_keys"]

    def get_fields(self, request, obj=None):
        return ["code", "department", *SCOPE_FIELDS]

    def get_readonly_fields(self, request, obj=None):
        return ["code", "department"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Through the services (the form already checked the scope against them)."""
        values = {f: form.cleaned_data[f] for f in SCOPE_FIELDS}
        if change:
            services.api_client_update(client=obj, actor=request.user, **values)
            return
        client, secret = services.api_client_create(
            code=form.cleaned_data["code"],
            department=form.cleaned_data["department"],
            actor=request.user,
            **values,
        )
        obj.pk = client.pk
        obj._state.adding = False
        _show_key(request, client, secret)

    @admin.action(description="签发新密钥（旧密钥保持有效）")
    def issue_key(self, request, queryset):
        for client in queryset:
            _key, secret = services.api_key_issue(client=client, actor=request.user)
            _show_key(request, client, secret)

    @admin.action(description="轮换密钥（签发新密钥，旧密钥24小时后失效）")
    def rotate_keys(self, request, queryset):
        for client in queryset:
            _key, secret = services.api_key_rotate(client=client, actor=request.user)
            _show_key(request, client, secret)

    @admin.action(description="立即吊销所选客户端的全部密钥")
    def revoke_keys(self, request, queryset):
        count = 0
        for key in ApiKey.objects.filter(client__in=queryset, revoked=False):
            services.api_key_revoke(prefix=key.prefix, actor=request.user)
            count += 1
        messages.success(request, f"已吊销 {count} 个密钥")
